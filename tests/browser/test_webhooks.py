"""A manager registers a webhook endpoint in the browser, copies its secret (shown once), sees a purchase's
delivery in the log and redelivers it; the receiver on 127.0.0.1 checks each signature with that secret."""

import re

from django.db import transaction
from playwright.sync_api import expect

from tests.factories import CustomerFactory, ManagerFactory, purchase
from tests.receiver import Receiver
from webhooks import signing
from webhooks.models import Endpoint


def signed_with(secret: str, received) -> bool:
    fields = dict(part.split("=", 1) for part in received.headers["Loyalty-Signature"].split(","))
    return fields["v1"] == signing.signature(secret, int(fields["t"]), received.body)


def test_a_manager_registers_an_endpoint_sees_its_deliveries_and_redelivers(page, sign_in):
    receiver = Receiver()
    try:
        sign_in(ManagerFactory())
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
        expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
        page.get_by_label("URL").fill(receiver.url())
        page.get_by_label("Description").fill("Web shop")
        page.get_by_label("customer.enrolled: A customer enrolled").uncheck()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("heading", name="Endpoint added")).to_be_visible()
        secret = page.locator("#signing-secret").inner_text().strip()
        endpoint = Endpoint.objects.get()
        assert secret == endpoint.secret and endpoint.description == "Web shop"
        assert "customer.enrolled" not in endpoint.event_types and len(endpoint.event_types) == 6

        page.get_by_role("link", name="I have copied it: go to the endpoint").click()
        expect(page.get_by_role("table", name="Deliveries")).to_contain_text("Nothing sent yet")
        assert secret not in page.content()

        with transaction.atomic():
            purchase(CustomerFactory(), "120.00", receipt="R-1")  # its event is handed on after the commit
        [first] = receiver.wait_for(1)
        assert signed_with(secret, first)

        page.reload()
        log = page.get_by_role("table", name="Deliveries")
        expect(log).to_contain_text("purchase.recorded")
        expect(log).to_contain_text("delivered")
        expect(log).to_contain_text("HTTP 200")
        page.get_by_role("button", name="Redeliver").click()
        expect(page.get_by_text(re.compile(r"Event evt_\w+ is being sent again\."))).to_be_visible()
        first, again = receiver.wait_for(2)
        assert again.body == first.body and signed_with(secret, again)

        page.get_by_role("link", name="purchase.recorded").click()
        expect(page.get_by_role("table", name="Attempts")).to_contain_text("HTTP 200")
        expect(page.locator("pre.body")).to_contain_text('"receipt_number": "R-1"')
    finally:
        receiver.close()
