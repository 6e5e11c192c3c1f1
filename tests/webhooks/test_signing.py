"""The signature receivers check, and the secret it is keyed with."""

import hashlib
import hmac

from django.test import override_settings

from webhooks import signing


def test_the_signature_is_the_hmac_sha256_of_the_timestamp_a_dot_and_the_raw_body():
    body = b'{"id":"evt_1","type":"purchase.recorded"}'
    expected = hmac.new(b"whsec_abc", b"1735689600." + body, hashlib.sha256).hexdigest()
    assert signing.signature_header("whsec_abc", 1735689600, body) == f"t=1735689600,v1={expected}"


def test_a_known_example_keeps_its_signature():
    # Worked out once by hand (hmac, sha256): a change of the wire format cannot pass unnoticed.
    assert signing.signature_header("whsec_test", 1700000000, b'{"id":"evt_0"}') == (
        "t=1700000000,v1=d16654c4f0d761ee872dfc6889c198f9f8b4e8ff08637189fa5107ecd645b186"
    )


def test_each_endpoint_has_its_own_secret_derived_from_the_site_key():
    first, second = signing.new_salt(), signing.new_salt()
    assert first != second
    secret = signing.endpoint_secret(first)
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 64
    assert signing.endpoint_secret(first) == secret  # derived again, the same: nothing stored
    assert signing.endpoint_secret(second) != secret
    with override_settings(SECRET_KEY="another site's key"):
        assert signing.endpoint_secret(first) != secret
