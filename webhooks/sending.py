"""One HTTP attempt of a delivery, with httpx: a POST to an address checked by `addresses` (pinned: the URL's
host name stays in the Host header and in TLS, for SNI and the certificate check), every step bounded by
LOYALTY_WEBHOOK_TIMEOUT_SECONDS, redirects not followed, proxies from the environment ignored (they would
bypass the address check), and only the start of the answer read (the log keeps an excerpt).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from .addresses import AddressRefused, IPAddress, addresses_for_delivery

EXCERPT_BYTES = 2048
EXCERPT_CHARS = 500
USER_AGENT = "Loyalty-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What an attempt got: the status code and the start of the body, or why there was no answer."""

    status_code: int | None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def pinned_request(
    client: httpx.Client, url: httpx.URL, address: IPAddress, body: bytes, headers: dict
) -> httpx.Request:
    """A POST of `body` to `address`, addressed to `url`'s host: Host header and TLS name as in the URL."""
    extensions = {}
    if url.scheme == "https" and not _is_ip_literal(url.host):
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return client.build_request(
        "POST",
        url.copy_with(host=str(address)),
        content=body,
        headers={**headers, "Host": url.netloc.decode("ascii")},
        extensions=extensions,
    )


def _excerpt(response: httpx.Response) -> str:
    data = b""
    try:
        for chunk in response.iter_raw():
            data += chunk
            if len(data) >= EXCERPT_BYTES:
                break
    except httpx.HTTPError:
        pass  # an answer whose body stalls or breaks off still has its status code
    return data[:EXCERPT_BYTES].decode("utf-8", errors="replace").strip()[:EXCERPT_CHARS]


def post(url_text: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to the endpoint at `url_text` once; never raises for what the network or receiver does."""
    started = time.monotonic()
    timeout = settings.LOYALTY_WEBHOOK_TIMEOUT_SECONDS

    def answer(status_code: int | None, excerpt: str = "", error: str = "") -> Answer:
        return Answer(status_code, excerpt, error[:300], round((time.monotonic() - started) * 1000))

    url = httpx.URL(url_text)
    try:
        addresses = addresses_for_delivery(url)
    except AddressRefused as refusal:
        return answer(None, error=f"not sent: {refusal}")
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers}
    failures = []
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False) as client:
        # Each address the host resolves to, in order, until one accepts the connection (as a browser does).
        for address in addresses:
            try:
                response = client.send(pinned_request(client, url, address, body, headers), stream=True)
            except httpx.ConnectTimeout:
                failures.append(f"{address}: no connection within {timeout:g} s")
                continue
            except httpx.ConnectError as exc:
                failures.append(f"{address}: {exc or 'connection refused'}")
                continue
            except httpx.TimeoutException:
                return answer(None, error=f"no answer within {timeout:g} s")
            except httpx.HTTPError as exc:
                return answer(None, error=f"{type(exc).__name__}: {exc}")
            try:
                excerpt = _excerpt(response)
            finally:
                response.close()
            error = ""
            if response.is_redirect:
                error = (
                    f"redirected to {response.headers.get('location', '(no location)')}: redirects are not "
                    "followed, register the final URL"
                )
            return answer(response.status_code, excerpt, error)
    return answer(None, error="could not connect: " + "; ".join(failures))
