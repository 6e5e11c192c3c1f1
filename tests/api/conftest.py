"""The API's test fixtures: keys of each role, and a client that sends a key and JSON."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from api.keys import create_api_key
from tests.factories import CustomerFactory


class ApiClient:
    """Django's test client speaking to /api/v1/ with `Authorization: Bearer <key>` and JSON bodies."""

    def __init__(self, secret: str | None = None):
        self.client = Client()
        self.secret = secret

    def _headers(self, headers: dict) -> dict:
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"} if self.secret else {}
        for name, value in headers.items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        return extra

    def get(self, path: str, params: dict | None = None, **headers):
        return self.client.get("/api/v1/" + path, params or {}, **self._headers(headers))

    def post(self, path: str, body, **headers):
        payload = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post("/api/v1/" + path, payload, content_type="application/json", **self._headers(headers))

    def request(self, method: str, path: str, **headers):
        return getattr(self.client, method)("/api/v1/" + path, **self._headers(headers))


@pytest.fixture
def make_key(db):
    """make_key(role="staff", store=None, name=...) -> (ApiKey, ApiClient using it)."""

    def make(role: str = "staff", store=None, name: str | None = None):
        new = create_api_key(name=name or f"{role} key", role=role, store=store)
        return new.api_key, ApiClient(new.secret)

    return make


@pytest.fixture
def staff_api(make_key) -> ApiClient:
    return make_key("staff")[1]


@pytest.fixture
def manager_api(make_key) -> ApiClient:
    return make_key("manager")[1]


@pytest.fixture
def customer(db):
    return CustomerFactory(member_number="M100", name="Ann Example", phone="5550102030", email="ann@example.com")


def problem(response) -> dict:
    """The problem+json body of an error answer, after checking it is one."""
    assert response["Content-Type"] == "application/problem+json", response.content
    body = response.json()
    assert body["status"] == response.status_code
    assert {"type", "title", "status", "detail"} <= set(body)
    return body
