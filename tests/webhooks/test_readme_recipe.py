"""The README's verification recipe, run as written, against deliveries as the worker signs them."""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import HTTPServer

import pytest

from events.models import EventType
from events.services import publish
from webhooks import services, signing

pytestmark = pytest.mark.django_db


def signed_delivery(endpoint, *, at: float):
    event = publish(EventType.PURCHASE_RECORDED, {"receipt": "R-7", "amount": "120.00"})
    body = services.message_body(event)
    return body, services.signed_headers(endpoint, event, body, timestamp=int(at), attempt=1)


def test_the_recipe_accepts_a_delivery_and_refuses_tampering_old_timestamps_and_other_secrets(recipe, endpoint_at):
    endpoint, secret = endpoint_at("https://pos.example.com/hooks")
    readme = recipe(secret)
    body, headers = signed_delivery(endpoint, at=time.time())
    signature = headers[signing.SIGNATURE_HEADER]
    assert readme.verify(secret, signature, body)
    assert not readme.verify(secret, signature, body.replace(b"120.00", b"920.00"))
    assert not readme.verify("whsec_" + "0" * 64, signature, body)
    assert not readme.verify(secret, "", body)
    assert not readme.verify(secret, "t=abc,v1=00", body)
    old_body, old_headers = signed_delivery(endpoint, at=time.time() - 301)
    assert not readme.verify(secret, old_headers[signing.SIGNATURE_HEADER], old_body)


def test_the_recipes_receiver_answers_204_to_a_signed_delivery_and_400_to_a_forged_one(recipe, endpoint_at):
    endpoint, secret = endpoint_at("https://pos.example.com/hooks")
    readme = recipe(secret)
    server = HTTPServer(("127.0.0.1", 0), readme.Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def post(body: bytes, headers: dict) -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (our own test server)
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        readme.Receiver.log_message = lambda *args: None
        body, headers = signed_delivery(endpoint, at=time.time())
        assert post(body, headers) == 204
        assert post(body, headers) == 204  # a repeat of the same event id is answered, not handled twice
        assert readme.handled == {json.loads(body)["id"]}
        forged = {**headers, signing.SIGNATURE_HEADER: signing.signature_header("whsec_guess", int(time.time()), body)}
        assert post(body, forged) == 400
    finally:
        server.shutdown()
        server.server_close()
