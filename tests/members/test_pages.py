"""The staff's pages of the members' side (join poster, member settings, the feedback report) and the query
counts of the member card and the report, which stay fixed whatever the data size."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

import audit
from audit.models import AuditEvent
from members.models import Feedback, MailKind
from members.selectors import feedback_report
from members.services.access import issue_card_key
from members.services.settings import member_settings
from rewards.models import Tier
from rewards.selectors import default_program
from tests.factories import CustomerFactory, RewardFactory, StoreFactory, at, purchase, refund
from tests.pages import text_of

pytestmark = pytest.mark.django_db


def queries_of(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured)


def test_the_join_poster_prints_the_join_pages_qr_code_for_staff(staff_client):
    response = staff_client.get("/members/poster/")
    page = response.content.decode()
    assert "http://testserver/join/" in text_of(response)
    assert "<svg" in page and "QR code of the join page" in page
    assert "data-print" in page


def test_managers_switch_the_members_side_and_the_change_is_audited(manager_client, manager):
    page = manager_client.get("/program/members/")
    assert "Visitors may join online" in text_of(page)
    response = manager_client.post(
        "/program/members/",
        {"feedback_interval_days": "30", "mail_on": [MailKind.WELCOME, MailKind.TIER_REACHED]},
    )
    assert response.status_code == 302
    saved = member_settings()
    assert (saved.join_open, saved.feedback_interval_days) == (False, 30)
    assert set(saved.mail_off) == {MailKind.POINTS_EARNED, MailKind.REWARD_AFFORDABLE, MailKind.POINTS_EXPIRING}
    event = AuditEvent.objects.get(event=audit.Event.MEMBER_SETTINGS_CHANGED)
    assert event.actor == manager and event.changes["join_open"] == [True, False]
    bad = manager_client.post("/program/members/", {"feedback_interval_days": "0"})
    assert bad.status_code == 400 and member_settings().feedback_interval_days == 30


def test_store_staff_see_neither_the_settings_nor_the_report(staff_client):
    assert staff_client.get("/program/members/").status_code == 403
    assert staff_client.get("/reports/feedback/").status_code == 403


def test_the_member_pages_need_no_staff_sign_in_and_the_staff_pages_do(client):
    for path in ("/join/", "/card/sign-in/"):
        assert client.get(path).status_code == 200
    for path in ("/members/poster/", "/program/members/", "/reports/feedback/"):
        assert client.get(path)["Location"].startswith("/accounts/login/")


def busy_member(extra: int):
    member = CustomerFactory()
    for number in range(extra):
        purchase(member, "120.00", receipt=f"R{member.pk}-{number}")
        RewardFactory(points_cost=50 + number)
        referred = CustomerFactory(referred_by=member)
        purchase(referred, "20.00")
    return member


def test_the_card_runs_a_fixed_number_of_queries(client):
    Tier.objects.create(program=default_program(), name="Gold", rank=1, threshold=500)
    small = busy_member(1)
    client.get(f"/card/open/{issue_card_key(small)}/")
    few = queries_of(client, "/card/")
    client.cookies.clear()
    large = busy_member(6)
    client.get(f"/card/open/{issue_card_key(large)}/")
    assert queries_of(client, "/card/") == few == 18


def at_june(*args):
    return at(2025, *args)


@pytest.fixture
def answers():
    """Five answers in February and March 2025 at two stores, and what those members spent afterwards."""
    elm, oak = StoreFactory(name="Elm"), StoreFactory(name="Oak")
    people = [CustomerFactory() for _ in range(5)]
    scores = [(10, elm, 2), (9, elm, 2), (7, elm, 2), (3, elm, 2), (0, oak, 3)]
    for customer, (score, store, month) in zip(people, scores, strict=True):
        asked = purchase(customer, "10.00", store=store, when=at(2025, month, 5)).transaction
        Feedback.objects.create(
            customer=customer, transaction=asked, score=score, comment=f"score {score}", answered_at=at(2025, month, 6)
        )
    promoter, second, _passive, detractor, late = people
    purchase(promoter, "100.00", when=at(2025, 3, 10))
    purchase(promoter, "50.00", when=at(2025, 4, 10))
    purchase(second, "30.00", when=at(2025, 2, 20))  # the month of the answer: not "after"
    purchase(second, "20.00", when=at(2025, 5, 10))
    refund(purchase(detractor, "80.00", when=at(2025, 3, 10)), "30.00", when=at(2025, 3, 12))
    purchase(late, "40.00", when=at(2025, 4, 10))
    purchase(late, "10.00", when=at(2025, 6, 2))  # this month: not complete yet
    return elm, oak


def test_the_feedback_report_scores_by_month_and_store_and_follows_spending(answers):
    elm, oak = answers
    with time_machine.travel(at(2025, 6, 15)):
        report = feedback_report(start=dt.date(2025, 1, 1), months=6)
    assert report.distribution == [1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1]
    assert (report.total.answers, report.total.nps) == (5, 0)
    assert report.by_month_store[(dt.date(2025, 2, 1), elm.pk)].nps == 25  # (2 promoters - 1 detractor) / 4
    assert report.by_month_store[(dt.date(2025, 3, 1), oak.pk)].nps == -100
    assert report.by_month[dt.date(2025, 1, 1)].nps is None
    spend = {group.category: group for group in report.spend_after}
    assert spend["promoter"].averages == [Decimal("50.00"), Decimal("25.00"), Decimal("10.00")]
    assert spend["detractor"].averages == [Decimal("45.00"), Decimal("0.00"), Decimal("0.00")]
    assert spend["detractor"].counted == [2, 2, 1], "March's answer has no complete third month yet"
    assert spend["passive"].averages == [Decimal("0.00")] * 3
    assert [answer.score for answer in report.comments] == [0, 3, 7, 9, 10], "newest first"


def test_the_feedback_page_shows_it_and_runs_a_fixed_number_of_queries(manager_client, answers):
    with time_machine.travel(at(2025, 6, 15)):
        response = manager_client.get("/reports/feedback/?start=2025-01&months=6")
        text = text_of(response)
        assert "Score 0 from 5 answers: 2 promoters, 1 passive, 2 detractors." in text
        assert "Feb 2025 +25 (4) +25 (4) — Mar 2025 −100 (1) — −100 (1)" in text
        assert "Period 0 (5) +25 (4) −100 (1)" in text
        assert re.search(r"Promoters \(9–10\) 2 \$50\.00 \$25\.00 \$10\.00", text)
        many = queries_of(manager_client, "/reports/feedback/?start=2025-01&months=6")
        assert queries_of(manager_client, "/reports/feedback/?start=2024-01&months=6") == many
