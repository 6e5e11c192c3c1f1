"""The managers' program pages and the staff customer page: permissions, refusals beside fields, publishing."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from rewards import engine
from rewards.models import PointsEntry, ProgramDraft, Recalculation, RuleVersion
from rewards.selectors import default_program, rule_version_at
from rewards.services.program import publish_rule_version, save_draft
from tests.factories import CustomerFactory, StoreFactory, at, purchase

pytestmark = pytest.mark.django_db

PAGES = ["program:settings", "program:simulate", "program:recalculate"]


def rule_post(**changes) -> dict:
    """A settings form submission: the classic bands, no promotion, no stamp card."""
    data = {
        "bands-TOTAL_FORMS": "3",
        "bands-INITIAL_FORMS": "0",
        "bands-0-threshold": "50",
        "bands-0-rate": "1",
        "bands-1-threshold": "100",
        "bands-1-rate": "2",
        "bands-2-threshold": "",
        "bands-2-rate": "",
        "promotions-TOTAL_FORMS": "1",
        "promotions-INITIAL_FORMS": "0",
        "promotions-0-kind": "multiplier",
        "promotion_mode": "stack",
        "action": "save",
    }
    return data | changes


def promotion(**changes) -> dict:
    return {
        "promotions-0-name": "Double March",
        "promotions-0-kind": "multiplier",
        "promotions-0-multiplier": "2",
        "promotions-0-starts": "2025-03-01",
        "promotions-0-ends": "2025-03-31",
    } | changes


def error_beside(response, field_id: str) -> str:
    """The error list rendered right after the field with this id."""
    html = response.content.decode()
    match = re.search(rf'<p class="field-error" id="{field_id}_error">(.*?)</p>', html)
    assert match, f"no error beside {field_id}"
    return match.group(1)


@pytest.mark.parametrize("name", [*PAGES])
def test_store_staff_get_the_403_page(staff_client, name):
    response = staff_client.get(reverse(name))
    assert response.status_code == 403
    assert "This page is for managers" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/program/",
        "/program/simulate/",
        "/program/recalculate/",
        "/program/rewards/",
        "/program/tiers/",
        "/program/policies/",
    ],
)
def test_program_pages_speak_to_managers_not_developers(manager_client, url):
    """No Django placeholders, delete checkboxes or pointers into the code on the program pages."""
    html = manager_client.get(url).content.decode()
    for developer_text in ["---------", "DELETE", "manage.py", "engine.py", "kinds.py"]:
        assert developer_text not in html, (url, developer_text)


def test_a_band_is_added_and_removed_with_buttons_and_nothing_is_saved(manager_client):
    added = manager_client.post(reverse("program:settings"), rule_post(action="add-band"))
    assert added.status_code == 200
    assert 'name="bands-3-threshold"' in added.content.decode()
    assert 'class="field-error"' not in added.content.decode()  # a row being filled in is not judged
    removed = manager_client.post(reverse("program:settings"), rule_post(action="remove-band-0"))
    assert 'name="bands-0-threshold" value="100"' in removed.content.decode().replace(' step="any"', "")
    assert not ProgramDraft.objects.exists()


def test_staff_cannot_post_a_draft(staff_client):
    assert staff_client.post(reverse("program:settings"), rule_post()).status_code == 403
    assert not ProgramDraft.objects.exists()


def test_settings_page_lists_versions_with_who_published_them(manager_client, manager):
    publish_rule_version(
        program=default_program(),
        rule=engine.CLASSIC_RULE,
        effective_from=timezone.now() + dt.timedelta(days=3),
        published_by=manager,
        note="next week",
    )
    response = manager_client.get(reverse("program:settings"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "installation" in html  # the version created by the migration has no author
    assert manager.username in html
    assert "scheduled" in html and "in force" in html
    assert "next week" in html
    # The form starts from the latest version's bands.
    assert 'name="bands-0-threshold" value="50"' in html


@pytest.mark.parametrize(
    ("changes", "field_id", "message"),
    [
        ({"bands-1-threshold": "40"}, "id_bands-1-threshold", "strictly increasing"),
        ({"bands-1-threshold": "50"}, "id_bands-1-threshold", "strictly increasing"),
        ({"bands-0-rate": "-1"}, "id_bands-0-rate", "negative"),
        ({"base_rate": "-0.5"}, "id_base_rate", "negative"),
        (promotion(**{"promotions-0-ends": "2025-02-01"}), "id_promotions-0-ends", "before it starts"),
        (promotion(**{"promotions-0-multiplier": "0"}), "id_promotions-0-multiplier", "more than 0"),
        ({"stamp_every": "0", "stamp_bonus": "10"}, "id_stamp_every", "at least 1 visit"),
        ({"birthday_bonus": "-5"}, "id_birthday_bonus", "negative"),
    ],
)
def test_bad_configuration_is_refused_beside_the_field_and_nothing_saved(manager_client, changes, field_id, message):
    response = manager_client.post(reverse("program:settings"), rule_post(**changes))
    assert response.status_code == 400
    assert message in error_beside(response, field_id)
    assert not ProgramDraft.objects.exists()
    assert RuleVersion.objects.count() == 1


def test_saving_makes_a_draft_and_changes_nothing_for_customers(manager_client, manager):
    StoreFactory(code="elm-street", name="Elm Street")
    response = manager_client.post(
        reverse("program:settings"),
        rule_post(
            **promotion(**{"promotions-0-weekdays": ["1"], "promotions-0-stores": ["elm-street"]}),
            minimum_purchase="5",
            stamp_every="10",
            stamp_bonus="100",
            enrolment_bonus="50",
        ),
    )
    assert response.status_code == 302
    draft = ProgramDraft.objects.get()
    assert draft.author == manager
    rule = draft.engine_rule()
    assert rule.promotions[0].weekdays == (1,) and rule.promotions[0].stores == ("elm-street",)
    assert (rule.stamp_card.every, rule.bonuses.enrolment, rule.minimum_purchase) == (10, 50, 5)
    assert RuleVersion.objects.count() == 1
    # The page now edits the draft.
    html = manager_client.get(reverse("program:settings")).content.decode()
    assert 'value="Double March"' in html


def test_publish_from_now_by_default_and_refuse_the_past(manager_client, manager):
    save_draft(program=default_program(), rule=engine.Rule(bands=(engine.Band(0, engine.Decimal(3)),)), author=manager)
    past = (timezone.localtime() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = manager_client.post(reverse("program:publish"), {"effective_from": past})
    assert refused.status_code == 400
    assert "cannot start in the past" in error_beside(refused, "id_effective_from")
    assert RuleVersion.objects.count() == 1
    response = manager_client.post(reverse("program:publish"), {"effective_from": "", "note": "triple"})
    assert response.status_code == 302
    version = rule_version_at(timezone.now())
    assert (version.published_by, version.note, version.rule) == (
        manager,
        "triple",
        {"bands": [{"threshold": 0, "rate": "3"}]},
    )
    assert not ProgramDraft.objects.exists()


def test_simulator_page_shows_totals_and_rows_with_a_fixed_number_of_queries(
    manager_client, manager, django_assert_num_queries
):
    customer = CustomerFactory(name="Ann Example")
    month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    when = timezone.make_aware(dt.datetime.combine(month + dt.timedelta(days=2), dt.time(12)))
    purchase(customer, "120.00", when=when)
    double = engine.CLASSIC_RULE.to_dict() | {
        "promotions": [{"name": "Double", "multiplier": "2", "starts": month.isoformat(), "ends": "2099-12-31"}]
    }
    save_draft(program=default_program(), rule=engine.Rule.from_dict(double), author=manager)
    url = reverse("program:simulate") + f"?start={month:%Y-%m}&months=1&point_value=0.10"
    with django_assert_num_queries(16 if connection.vendor == "postgresql" else 13):
        response = manager_client.get(url)
    html = response.content.decode()
    assert 'data-total="actual" data-value="90">90<' in html
    assert 'data-total="draft" data-value="180">180<' in html
    assert 'data-total="money" data-value="9.00">$9.00<' in html
    assert "Ann Example" in html
    assert PointsEntry.objects.count() == 1


def test_recalculation_page_previews_then_posts_once(manager_client, manager):
    customer = CustomerFactory()
    month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    when = timezone.make_aware(dt.datetime.combine(month + dt.timedelta(days=2), dt.time(12)))
    classic = rule_version_at(when)
    purchase(customer, "120.00", when=when)
    # Somebody published a wrong rule for a moment: re-rate that month under the classic version.
    flat = publish_rule_version(
        program=default_program(),
        rule=engine.Rule(bands=(engine.Band(0, engine.Decimal(1)),)),
        effective_from=timezone.now() - dt.timedelta(seconds=5),
    )
    params = {"start": f"{month:%Y-%m}", "months": "1", "version": str(flat.pk)}
    preview = manager_client.get(reverse("program:recalculate"), params)
    assert 'data-total="difference" data-value="30">+30<' in preview.content.decode()
    assert not PointsEntry.objects.filter(kind="adjustment").exists()
    posted = manager_client.post(reverse("program:recalculate"), params)
    assert posted.status_code == 302
    assert PointsEntry.objects.get(kind="adjustment").points == 30
    assert Recalculation.objects.get().author == manager
    again = manager_client.get(reverse("program:recalculate"), params)
    assert "No difference" in again.content.decode()
    manager_client.post(reverse("program:recalculate"), params)
    assert PointsEntry.objects.filter(kind="adjustment").count() == 1
    assert PointsEntry.objects.get(kind="earn").rule_version == classic  # the old entry is untouched


# --- the staff customer page ------------------------------------------------------------------------


def test_staff_award_a_bonus_once_from_the_customer_page(staff_client, staff):
    publish_rule_version(
        program=default_program(),
        rule=engine.Rule.from_dict(engine.CLASSIC_RULE.to_dict() | {"bonuses": {"birthday": 200}}),
        effective_from=at(2020, 1, 1),
    )
    customer = CustomerFactory(name="Bea Birthday")
    page = staff_client.get(reverse("customers:customer", args=[customer.pk]))
    assert page.status_code == 200
    assert "Bea Birthday" in page.content.decode()
    url = reverse("customers:award", args=[customer.pk])
    assert staff_client.post(url, {"action": "birthday"}).status_code == 302
    entry = PointsEntry.objects.get(customer=customer)
    assert (entry.points, entry.created_by, entry.kind) == (200, staff, "bonus")
    twice = staff_client.post(url, {"action": "birthday"})
    assert twice.status_code == 400
    assert "already has the birthday bonus" in error_beside(twice, "id_action")
    refused = staff_client.post(url, {"action": "enrolment"})
    assert "gives no enrolment bonus" in error_beside(refused, "id_action")
    assert PointsEntry.objects.filter(customer=customer).count() == 1


def test_the_customer_page_is_for_staff(client, django_user_model):
    customer = CustomerFactory()
    nobody = django_user_model.objects.create_user(username="nobody", password="x")
    client.force_login(nobody)
    assert client.get(reverse("customers:customer", args=[customer.pk])).status_code == 403
    assert client.post(reverse("customers:award", args=[customer.pk]), {"action": "birthday"}).status_code == 403


def test_every_refused_field_gets_its_message_in_one_round(manager_client):
    response = manager_client.post(
        reverse("program:settings"),
        rule_post(**promotion(**{"promotions-0-ends": "2025-02-01"}), **{"bands-1-threshold": "40"}, stamp_every="0"),
    )
    assert response.status_code == 400
    assert "strictly increasing" in error_beside(response, "id_bands-1-threshold")
    assert "before it starts" in error_beside(response, "id_promotions-0-ends")
    assert "at least 1 visit" in error_beside(response, "id_stamp_every")


def test_settings_page_queries_do_not_grow_with_versions(manager_client, manager):
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert manager_client.get(reverse("program:settings")).status_code == 200
        return len(context)

    first = queries()
    for days in (1, 2, 3):
        publish_rule_version(
            program=default_program(),
            rule=engine.CLASSIC_RULE,
            effective_from=timezone.now() + dt.timedelta(days=days),
            published_by=manager,
        )
    save_draft(program=default_program(), rule=engine.CLASSIC_RULE, author=manager)
    assert queries() == first
