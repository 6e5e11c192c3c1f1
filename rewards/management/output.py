"""Where the rewards report commands write: standard output, or a file named by --output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from django.core.management.base import BaseCommand, CommandError


class _Unterminated:
    """Standard output as the command's wrapper gives it, without a line ending added to each write."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")


@contextmanager
def destination(command: BaseCommand, output: str | None) -> Iterator[IO[str]]:
    """The command's standard output when `output` is empty or "-", else the file (UTF-8); a file that cannot be
    written is the command's error."""
    if not output or output == "-":
        yield _Unterminated(command.stdout)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as stream:
            yield stream
    except OSError as exc:
        raise CommandError(f"cannot write {output}: {exc.strerror}") from None
