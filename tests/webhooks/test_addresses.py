"""Where webhooks may go: http(s) only, https only where required, and no non-public address unless allowed."""

import ipaddress

import httpx
import pytest
from django.core.exceptions import ValidationError

from webhooks import addresses
from webhooks.addresses import AddressRefused, addresses_for_delivery, check_endpoint_url, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.20", "169.254.169.254", "100.64.0.1", "0.0.0.0",  # noqa: S104
        "224.0.0.1", "239.255.255.250", "255.255.255.255", "::1", "fe80::1", "fc00::5", "::",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "ff02::1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_recognised(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14"])
def test_public_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://shop.example.com/hooks", "start the URL with https://"),
        ("javascript:alert(1)", "start the URL with https://"),
        ("https:///hooks", "needs a host name"),
        ("https://user:password@shop.example.com/hooks", "Leave the user name and password out"),
        ("shop.example.com/hooks", "start the URL with https://"),
        ("https://shop.example.com/hooks#part", "fragment"),
    ],
)
def test_urls_that_are_not_plain_http_or_https_are_refused(url, message, settings):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with pytest.raises(ValidationError, match=message):
        check_endpoint_url(url)


def test_production_refuses_plain_http(settings):
    settings.LOYALTY_WEBHOOK_REQUIRE_HTTPS = True
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with pytest.raises(ValidationError, match="HTTPS only: start the URL with https://"):
        check_endpoint_url("http://127.0.0.1:8080/hooks")
    assert check_endpoint_url("https://127.0.0.1:8443/hooks") == "https://127.0.0.1:8443/hooks"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks", "https://10.0.0.8/hooks", "https://169.254.169.254/latest/meta-data",
        "https://[::1]:8443/hooks", "https://[::ffff:192.168.0.1]/hooks", "https://localhost/hooks",
    ],
)  # fmt: skip
def test_where_private_addresses_are_not_allowed_they_are_refused_at_registration(url, settings):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(ValidationError, match="not a public address"):
        check_endpoint_url(url)


def test_a_host_name_is_judged_by_every_address_it_resolves_to(settings, monkeypatch):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    answers = {"pos.example.com": ["10.0.0.7"], "shop.example.com": ["93.184.215.14", "10.0.0.7"]}
    monkeypatch.setattr(
        addresses, "resolve", lambda host, port: [ipaddress.ip_address(a) for a in answers.get(host, [])]
    )
    with pytest.raises(ValidationError, match=r"pos\.example\.com resolves to 10\.0\.0\.7"):
        check_endpoint_url("https://pos.example.com/hooks")
    # Of a host with a public and a private address, only the public one is ever connected to.
    assert check_endpoint_url("https://shop.example.com/hooks") == "https://shop.example.com/hooks"
    assert addresses_for_delivery(httpx.URL("https://shop.example.com/hooks")) == [
        ipaddress.ip_address("93.184.215.14")
    ]
    with pytest.raises(AddressRefused, match="resolves to nothing"):
        addresses_for_delivery(httpx.URL("https://gone.example.com/hooks"))


def test_a_host_that_does_not_resolve_is_refused_where_addresses_are_checked(settings, monkeypatch):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    def no_such_host(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr(addresses, "resolve", no_such_host)
    with pytest.raises(ValidationError, match="could not be resolved"):
        check_endpoint_url("https://no-such-host.example/hooks")


def test_where_private_addresses_are_allowed_nothing_is_resolved_at_registration(settings, monkeypatch):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    monkeypatch.setattr(addresses, "resolve", lambda host, port: pytest.fail("resolved"))
    assert check_endpoint_url("  http://pos.local:8080/hooks ") == "http://pos.local:8080/hooks"
