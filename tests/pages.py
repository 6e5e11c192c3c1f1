"""Reading rendered pages in view tests: the text a cashier reads, an input's value, the error beside a field."""

import re
from html import unescape


def text_of(response) -> str:
    """The page's visible text, tags stripped and whitespace collapsed, for asserting what a cashier reads."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def input_tag(response, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', response.content.decode())
    assert match, f"no input named {name}"
    return match.group(0)


def input_value(response, name: str) -> str | None:
    match = re.search(r'value="([^"]*)"', input_tag(response, name))
    return unescape(match.group(1)) if match else None


def field_error(response, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="id_{re.escape(field)}_error">(.*?)</p>', response.content.decode())
    return unescape(match.group(1)) if match else ""
