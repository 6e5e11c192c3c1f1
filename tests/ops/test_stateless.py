"""Web tier stateless: sessions and the cache are shared by every web process and machine, configured from the
environment (CACHE_URL, DJANGO_SESSION_STORE); production refuses a cache that only one process sees."""

import os
import socket
import uuid
from contextlib import contextmanager

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from loyalty_site.settings.base import cache_settings, session_engine

from .conftest import PRODUCTION, manage

REDIS = ("127.0.0.1", 6379)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("locmemcache://", {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": ""}),
        (
            "dbcache://loyalty_cache",
            {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "loyalty_cache"},
        ),
        (
            "redis://10.0.0.2:6379/1",
            {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://10.0.0.2:6379/1"},
        ),
        (
            "rediss://:secret@cache.example:6380/2?key_prefix=loyalty&timeout=600",
            {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "rediss://:secret@cache.example:6380/2",
                "KEY_PREFIX": "loyalty",
                "TIMEOUT": 600,
                "OPTIONS": {},
            },
        ),
    ],
)
def test_cache_url_is_parsed_into_the_cache_setting(url, expected):
    assert cache_settings(url) == {"default": expected}


def test_sessions_live_in_the_database_or_in_the_database_behind_the_cache():
    assert session_engine("db") == "django.contrib.sessions.backends.db"
    assert session_engine("cached_db") == "django.contrib.sessions.backends.cached_db"
    for store in ("cache", "file", "signed_cookies"):
        with pytest.raises(ImproperlyConfigured, match="DJANGO_SESSION_STORE"):
            session_engine(store)


SHOW = (
    "from django.conf import settings; "
    "print(settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION'], settings.SESSION_ENGINE)"
)


def test_production_shares_the_database_cache_by_default_and_takes_redis_and_cached_sessions():
    default = manage("shell", "-c", SHOW, DJANGO_SETTINGS_MODULE="loyalty_site.settings.production", **PRODUCTION)
    assert default.returncode == 0, default.stderr
    assert default.stdout.split("\n")[-2].split() == [
        "django.core.cache.backends.db.DatabaseCache",
        "loyalty_cache",
        "django.contrib.sessions.backends.db",
    ]
    redis = manage(
        "shell",
        "-c",
        SHOW,
        DJANGO_SETTINGS_MODULE="loyalty_site.settings.production",
        CACHE_URL="redis://10.0.0.2:6379/1",
        DJANGO_SESSION_STORE="cached_db",
        **PRODUCTION,
    )
    assert redis.returncode == 0, redis.stderr
    assert redis.stdout.split("\n")[-2].split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://10.0.0.2:6379/1",
        "django.contrib.sessions.backends.cached_db",
    ]


def test_production_refuses_a_cache_of_one_process():
    result = manage(
        "check", DJANGO_SETTINGS_MODULE="loyalty_site.settings.production", CACHE_URL="locmemcache://", **PRODUCTION
    )
    assert result.returncode != 0
    assert "CACHE_URL must name a cache every web process shares" in result.stderr


@contextmanager
def two_processes_views(url: str):
    """Two cache connections built from one CACHE_URL, as two web processes (or machines) would build them."""
    config = cache_settings(url)["default"]
    with override_settings(CACHES={"first": config, "second": config}):
        yield caches.create_connection("first"), caches.create_connection("second")


def redis_reachable() -> bool:
    try:
        socket.create_connection(REDIS, timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def redis_url():
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis at 127.0.0.1:6379 is needed in CI")
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    return f"redis://127.0.0.1:6379/1?key_prefix=loyalty-test-{uuid.uuid4().hex}&timeout=60"


def test_a_redis_cache_is_one_cache_for_every_process(redis_url):
    with two_processes_views(redis_url) as (first, second):
        first.set("throttle:key_1", 1)
        first.incr("throttle:key_1")  # what a rate limit does, on one machine
        assert second.get("throttle:key_1") == 2  # and what another machine reads
        second.delete("throttle:key_1")
        assert first.get("throttle:key_1") is None


@pytest.mark.django_db
def test_the_database_cache_is_one_cache_for_every_process():
    url = "dbcache://loyalty_test_cache"
    with override_settings(CACHES=cache_settings(url)):
        call_command("createcachetable", verbosity=0)
    with two_processes_views(url) as (first, second):
        first.set("throttle:key_1", 1)
        first.incr("throttle:key_1")
        assert second.get("throttle:key_1") == 2


@pytest.mark.django_db
def test_a_session_kept_in_redis_and_the_database_signs_in_on_every_process(client, staff, redis_url):
    with override_settings(CACHES=cache_settings(redis_url), SESSION_ENGINE=session_engine("cached_db")):
        client.force_login(staff)
        assert client.get("/till/").status_code == 200
        # Another process: its own connection to the same Redis, and the same database.
        caches["default"].close()
        del caches["default"]
        other = type(client)()
        other.cookies = client.cookies
        assert other.get("/till/").status_code == 200
        client.post("/accounts/logout/")
        assert other.get("/till/").status_code == 302  # signed out everywhere at once
