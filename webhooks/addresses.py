"""Where a webhook may go. Server-side request forgery is the risk: an endpoint URL is typed by a manager,
and the worker, inside the merchant's network, would POST to whatever it names.

- Only `http` and `https` URLs, without a user name or password in them; with LOYALTY_WEBHOOK_REQUIRE_HTTPS
  (on in production) only `https`.
- Unless LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES (on locally, off in production), never an address that is
  not public: loopback, private ranges, link-local (the cloud metadata service at 169.254.169.254),
  carrier-grade NAT, multicast, reserved, and IPv6 forms that embed such an IPv4 address. Checked when the
  endpoint is registered (a clear message beside the URL) and again at every delivery, on the addresses
  the host name resolves to then; the delivery connects to an address it checked (pinned), so a DNS answer
  that changes between the check and the connection (DNS rebinding) cannot send it elsewhere.
- Redirects are never followed (sending.py): a 3xx answer is a failed attempt.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(Exception):
    """The endpoint's host resolves to no address a delivery may connect to."""


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), or the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: IPAddress) -> bool:
    address = embedded_ipv4(address)
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to now, in the resolver's order, without repeats."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def addresses_for_delivery(url: httpx.URL) -> list[IPAddress]:
    """The addresses a delivery to `url` may connect to, in order; AddressRefused when there are none."""
    host = url.host
    try:
        found = resolve(host, default_port(url))
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"the host name {host} could not be resolved ({exc})") from None
    if getattr(settings, "LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False):
        return found
    allowed = [address for address in found if is_public(address)]
    if not allowed:
        shown = ", ".join(str(address) for address in found) or "nothing"
        raise AddressRefused(
            f"{host} resolves to {shown}: not a public address, and this site sends webhooks to public "
            "addresses only (LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES)"
        )
    return allowed


def check_endpoint_url(text: str) -> str:
    """The URL as it will be used, or ValidationError saying what is wrong with it (shown beside the field)."""
    try:
        url = httpx.URL(text.strip())
    except (httpx.InvalidURL, TypeError):
        raise ValidationError("Enter a full URL, like https://shop.example.com/loyalty/webhooks.") from None
    require_https = getattr(settings, "LOYALTY_WEBHOOK_REQUIRE_HTTPS", False)
    if url.scheme not in ("http", "https"):
        raise ValidationError("Webhooks are sent over HTTPS (or HTTP): start the URL with https://")
    if require_https and url.scheme != "https":
        raise ValidationError("This site sends webhooks over HTTPS only: start the URL with https://")
    if not url.host:
        raise ValidationError("The URL needs a host name, like https://shop.example.com/loyalty/webhooks.")
    if url.userinfo:
        raise ValidationError(
            "Leave the user name and password out of the URL: every delivery is signed with the endpoint's "
            "secret instead."
        )
    if url.fragment:
        raise ValidationError("Leave the #fragment out of the URL: it is never sent.")
    if not getattr(settings, "LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False):
        # Where any address is allowed there is nothing to check yet: a host that does not resolve shows in
        # the delivery log. Where only public ones are, say so now rather than at the first delivery.
        try:
            addresses_for_delivery(url)
        except AddressRefused as refusal:
            raise ValidationError(f"Webhooks cannot be sent there: {refusal}.") from None
    return str(url)
