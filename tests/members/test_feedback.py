"""Feedback after a purchase: once per the merchant's number of days, once per purchase, and its bonus once per
survey, through the rewards services."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from members.models import Feedback
from members.services.access import issue_card_key
from members.services.feedback import FeedbackRefused, record_feedback, survey_link
from members.services.settings import save_member_settings
from rewards.models import PointsEntry
from rewards.services.bonuses import BonusRefused, award_bonus
from tests.factories import CLASSIC, CustomerFactory, at, publish, purchase
from tests.pages import text_of

pytestmark = pytest.mark.django_db


def open_card(client, customer):
    client.get(f"/card/open/{issue_card_key(customer)}/")


def test_the_card_asks_after_a_purchase_and_the_answer_is_recorded(client):
    member = CustomerFactory()
    open_card(client, member)
    assert "How was your last visit?" not in text_of(client.get("/card/")), "nothing to ask about yet"
    recorded = purchase(member, "120.00")
    assert "How was your last visit?" in text_of(client.get("/card/"))

    page = client.get("/card/feedback/")
    assert "How likely are you to recommend us to a friend?" in text_of(page)
    response = client.post("/card/feedback/", {"score": "9", "comment": "  Lovely staff  "})
    assert response.status_code == 200 and "Thank you" in text_of(response)
    answer = Feedback.objects.get()
    assert (answer.customer, answer.transaction, answer.score, answer.comment) == (
        member, recorded.transaction, 9, "Lovely staff",
    )  # fmt: skip
    assert "How was your last visit?" not in text_of(client.get("/card/"))


def test_a_score_outside_0_to_10_is_refused_beside_the_question(client):
    member = CustomerFactory()
    purchase(member, "20.00")
    open_card(client, member)
    for bad in ("11", "-1", "x", ""):
        response = client.post("/card/feedback/", {"score": bad})
        assert response.status_code == 400
        assert "Choose" in text_of(response)
    assert not Feedback.objects.exists()


def test_at_most_once_per_the_merchants_number_of_days(client, manager):
    save_member_settings(join_open=True, feedback_interval_days=30, mail_off=[], changed_by=manager)
    member = CustomerFactory()
    first = purchase(member, "20.00").transaction
    record_feedback(customer=member, purchase=first, score=8)
    second = purchase(member, "30.00").transaction
    with pytest.raises(FeedbackRefused):
        record_feedback(customer=member, purchase=second, score=3)
    with pytest.raises(FeedbackRefused):
        record_feedback(customer=member, purchase=first, score=3)
    with time_machine.travel(timezone.now() + dt.timedelta(days=29)):
        open_card(client, member)
        assert "How was your last visit?" not in text_of(client.get("/card/"))
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        assert "How was your last visit?" in text_of(client.get("/card/"))
        record_feedback(customer=member, purchase=second, score=3)
        # One answer per purchase, whatever the interval.
        with pytest.raises(FeedbackRefused):
            record_feedback(customer=member, purchase=second, score=10)
    assert list(Feedback.objects.order_by("id").values_list("score", flat=True)) == [8, 3]


def test_the_feedback_bonus_is_a_bonus_action_given_once_per_survey():
    publish(CLASSIC | {"bonuses": {"feedback": 25}}, at(2020, 1, 1))
    member = CustomerFactory()
    answer, bonus = record_feedback(customer=member, purchase=purchase(member, "20.00").transaction, score=10)
    assert (bonus.points, bonus.bonus_key, bonus.kind) == (25, f"feedback:{answer.pk}", PointsEntry.Kind.BONUS)
    with pytest.raises(BonusRefused, match="already has the feedback bonus"):
        award_bonus(customer=member, action="feedback", survey_id=answer.pk)
    with pytest.raises(BonusRefused, match="when the member answers"):
        award_bonus(customer=member, action="feedback")
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.BONUS).count() == 1


def test_without_a_feedback_bonus_in_the_rule_answering_earns_nothing():
    member = CustomerFactory()
    _answer, bonus = record_feedback(customer=member, purchase=purchase(member, "20.00").transaction, score=10)
    assert bonus is None
    assert not PointsEntry.objects.filter(kind=PointsEntry.Kind.BONUS).exists()


def test_the_emailed_survey_link_works_without_signing_in_and_only_for_its_member(client):
    publish(CLASSIC | {"bonuses": {"feedback": 25}}, at(2020, 1, 1))
    member = CustomerFactory()
    recorded = purchase(member, "120.00")
    path = survey_link(member.pk, recorded.transaction.pk).removeprefix("http://testserver")
    assert "$120.00" in text_of(client.get(path))
    response = client.post(path, {"score": "6"})
    assert "We added 25 points to your card" in text_of(response)
    assert "already have your answer" in text_of(client.post(path, {"score": "6"}))
    other = CustomerFactory()
    forged = survey_link(other.pk, recorded.transaction.pk).removeprefix("http://testserver")
    assert client.get(forged).status_code == 404
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        assert client.get(path).status_code == 404


def test_staff_cannot_award_the_feedback_bonus_by_hand(staff_client):
    member = CustomerFactory()
    page = staff_client.get(f"/customers/{member.pk}/").content.decode()
    assert 'value="feedback"' not in page
    response = staff_client.post(f"/customers/{member.pk}/award/", {"action": "feedback"})
    assert response.status_code == 400
