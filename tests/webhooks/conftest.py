import re
import types
from pathlib import Path

import pytest

from tests.receiver import Receiver
from webhooks.services import register_endpoint

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def endpoint_at(manager):
    """Register an endpoint as a manager does; returns (endpoint, secret)."""

    def register(url: str, event_types=("purchase.recorded",), **kwargs):
        return register_endpoint(url=url, event_types=list(event_types), created_by=manager, **kwargs)

    return register


@pytest.fixture
def recipe(monkeypatch):
    """The README's webhook verification recipe, run as written (its module-level SECRET from the environment)."""

    def load(secret: str) -> types.SimpleNamespace:
        monkeypatch.setenv("LOYALTY_WEBHOOK_SECRET", secret)
        section = README.read_text().split("**Verifying a delivery**", 1)[1]
        code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
        namespace = {"__name__": "readme_recipe"}
        exec(compile(code, "README.md (webhook recipe)", "exec"), namespace)  # noqa: S102 (our own README)
        return types.SimpleNamespace(**namespace)

    return load
