"""The accountant's pages: the small book's figures on them, exports, forms, who may do what, query counts."""

import csv
import io
import re
from decimal import Decimal
from html import unescape

import openpyxl
import pytest
from django.urls import reverse

from audit.models import AuditEvent
from loyalty_site.navigation import navigation_for
from rewards.models import BreakageEstimate, MonthClose, PointValue
from rewards.services.books import close_month
from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund
from tests.rewards.books import JANUARY, small_book

pytestmark = pytest.mark.django_db

LIABILITY = reverse("accounting:liability")
PERIOD = {"start": "2025-01", "months": "3"}
SIGNED_IN = 4  # session, user, the user's permissions (own and group)


@pytest.fixture
def book(new_york):
    return small_book()


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def error_beside(html: str, field: str) -> str:
    """The error the field template (templates/_field.html) puts beside a field."""
    match = re.search(rf'<p class="field-error" id="id_{field}_error">(.*?)</p>', html, re.S)
    return plain(match.group(1)) if match else ""


def cells(html: str, table_id: str, row_label: str) -> list[str]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    row = next(row for row in table.split("<tr") if f">{row_label}<" in row)
    return [plain(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_roll_forward_page_shows_the_hand_checked_figures(manager_client, book):
    response = manager_client.get(LIABILITY, PERIOD)
    html = response.content.decode()
    assert plain(html.split('id="closing-points">', 1)[1].split("</dd>", 1)[0]) == "110 points"
    assert plain(html.split('id="closing-money">', 1)[1].split("</dd>", 1)[0]) == "$2.20"
    assert cells(html, "roll-forward", "Opening balance") == ["0", "$0.00", "130", "$1.30", "210", "$4.20"]
    assert cells(html, "roll-forward", "Redeemed") == ["0", "$0.00", "−20", "-$0.40", "0", "$0.00"]
    assert cells(html, "roll-forward", "Revaluation at a changed point value")[3] == "$0.80"
    assert cells(html, "roll-forward", "Closing balance") == ["130", "$1.30", "210", "$4.20", "110", "$2.20"]
    # Each store's period, and the program's in the footer.
    assert cells(html, "by-store", "Elm Street") == [
        "0 $0.00", "+30 $0.30", "0 $0.00", "−50 -$0.50", "−20 -$0.40", "0 $0.00", "0 $0.00", "— -$0.20", "-40 -$0.80",
    ]  # fmt: skip
    footer = html.split('id="by-store"', 1)[1].split("<tfoot>", 1)[1].split("</tfoot>", 1)[0]
    assert re.findall(r"<td[^>]*>(.*?)</td>", footer, re.S)[-1].count("110") == 1


def test_one_stores_roll_forward(manager_client, book):
    html = manager_client.get(LIABILITY, {**PERIOD, "store": "elm"}).content.decode()
    assert "Roll-forward · Elm Street" in html
    assert cells(html, "roll-forward", "Closing balance") == ["30", "$0.30", "-40", "-$0.80", "-40", "-$0.80"]
    html = manager_client.get(LIABILITY, {**PERIOD, "store": "none"}).content.decode()
    assert "Points of no store: enrolment, birthday and feedback bonuses" in html
    assert cells(html, "roll-forward", "Expired") == ["0", "$0.00", "0", "$0.00", "−110", "-$2.20"]


def test_a_bad_period_is_explained_beside_its_field(manager_client):
    response = manager_client.get(LIABILITY, {"start": "2025-13", "months": "3"})
    assert response.status_code == 400
    assert "is not a month" in response.content.decode()


def test_csv_and_xlsx_downloads_neutralise_formulas_and_are_recorded(manager_client, new_york):
    store = StoreFactory(code="evil", name="=HYPERLINK(1)")
    purchase(CustomerFactory(), "120.00", when=at(2025, 1, 10), store=store)
    response = manager_client.get(LIABILITY, {**PERIOD, "_export": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="points-liability-2025-01-3m.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    evil = [row for row in rows if row["store_code"] == "evil"]
    assert {row["scope"] for row in evil} == {"'=HYPERLINK(1)"}
    assert [row["closing_points"] for row in evil] == ["90", "90", "90"]
    response = manager_client.get(LIABILITY, {**PERIOD, "_export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("scope", "store_code", "month")
    assert all(not (isinstance(v, str) and v.startswith("=")) for row in values for v in row)
    assert any(row[1] == "evil" and row[0] == "'=HYPERLINK(1)" for row in values[1:])
    assert AuditEvent.objects.filter(event="export", additional_data__report="points liability").count() == 2


@pytest.mark.parametrize("customers", [3, 30])
def test_the_roll_forward_page_issues_a_fixed_number_of_queries(
    manager_client, new_york, django_assert_num_queries, customers
):
    for customer in CustomerFactory.create_batch(customers):
        refund(purchase(customer, "120.00", when=at(2025, 1, 20)), "10.00", when=at(2025, 2, 3))
    # the roll-up's rows, the point values, the breakage estimates, the stores, the closed months
    with django_assert_num_queries(SIGNED_IN + 5):
        response = manager_client.get(LIABILITY, PERIOD)
    assert response.context["report"].total[-1].closing.points == customers * 70  # 110.00 left earns 70


# --- breakage ---------------------------------------------------------------------------------------


def test_the_breakage_page_says_which_rate_is_used_and_how(manager_client, book):
    html = manager_client.get(reverse("accounting:breakage"), PERIOD).content.decode()
    assert "The rate observed in the ledger" in html
    assert cells(html, "breakage", "Redemption rate observed") == ["—", "100.00%", "15.38%"]
    assert cells(html, "breakage", "Revenue from redemptions") == ["$0.00", "$0.38", "$0.00"]
    assert cells(html, "breakage", "Revenue from breakage") == ["$0.00", "$0.00", "$2.11"]
    assert "points redeemed ÷ (points redeemed + points expired)" in html
    assert "None: the observed rate is used every month." in html


def test_a_manager_sets_the_estimate_and_the_page_says_it_is_used(manager_client, book):
    response = manager_client.post(
        reverse("accounting:breakage_estimate"),
        {"rate": "25", "effective_month": "2025-02", "reason": "industry study"},
    )
    assert response.status_code == 302
    html = manager_client.get(reverse("accounting:breakage"), PERIOD).content.decode()
    assert "The merchant's estimate (25.00%)" in html
    assert cells(html, "breakage", "Revenue from breakage") == ["$0.00", "$0.13", "$1.98"]
    assert "industry study" in html


def test_an_estimate_for_a_closed_month_is_refused_beside_its_field(manager_client, manager, book):
    close_month(month=JANUARY, closed_by=manager)
    response = manager_client.post(
        reverse("accounting:breakage_estimate"), {"rate": "25", "effective_month": "2025-01", "reason": "study"}
    )
    assert response.status_code == 400
    assert "January 2025 is closed: its breakage estimate is final" in response.content.decode()
    assert not BreakageEstimate.objects.exists()


def test_the_breakage_page_issues_a_fixed_number_of_queries(manager_client, book, django_assert_num_queries):
    # the roll-up's rows, the point values, the estimates, the stores, the closed months
    with django_assert_num_queries(SIGNED_IN + 5):
        manager_client.get(reverse("accounting:breakage"), PERIOD)


# --- ageing -----------------------------------------------------------------------------------------


def test_the_ageing_page_and_its_download(manager_client, book):
    html = manager_client.get(reverse("accounting:ageing"), {"as_of": "2025-03"}).content.decode()
    # Ann's February lot (100) and Bob's March one (10): both 0-3 months old at March's end.
    assert cells(html, "ageing", "0–3 months ago") == ["110", "$2.20", "100.0%"]
    assert plain(html.split('id="ageing-balance">', 1)[1].split("</td>", 1)[0]) == "110"
    response = manager_client.get(reverse("accounting:ageing"), {"as_of": "2025-03", "_export": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["as_of", "row", "points", "money"]
    assert ["2025-03", "outstanding, earned 0–3 months before", "110", "2.2000"] in rows


@pytest.mark.parametrize("customers", [3, 30])
def test_the_ageing_page_issues_a_fixed_number_of_queries(
    manager_client, new_york, django_assert_num_queries, customers
):
    for customer in CustomerFactory.create_batch(customers):
        purchase(customer, "120.00", when=at(2025, 1, 20))
    # the expiry policies, the customers' months, the point values (no expiry: no expiry keys to read)
    with django_assert_num_queries(SIGNED_IN + 3):
        manager_client.get(reverse("accounting:ageing"), {"as_of": "2025-03"})


# --- month close ------------------------------------------------------------------------------------


def test_a_manager_closes_the_next_month_and_an_owner_reopens_it(client, manager, owner, book):
    client.force_login(manager)
    response = client.post(reverse("accounting:close_month"), {"month": "2025-02"})
    assert response.status_code == 302
    close = MonthClose.objects.get()
    assert close.figures["closing"]["points"] == 210
    html = client.get(reverse("accounting:close")).content.decode()
    assert plain(html.split('id="closed-through">', 1)[1].split("</dd>", 1)[0]) == "February 2025"
    assert '<span class="badge closed">Exactly</span>' in html
    assert "Only an owner can reopen a closed month" in html
    # A manager's reopening is refused by the service too, whatever is posted.
    response = client.post(reverse("accounting:reopen_month"), {"month": "2025-02", "reason": "late invoice"})
    assert response.status_code == 400 and MonthClose.objects.get().is_closed
    client.force_login(owner)
    response = client.post(reverse("accounting:reopen_month"), {"month": "2025-02", "reason": ""})
    assert response.status_code == 400
    response = client.post(reverse("accounting:reopen_month"), {"month": "2025-02", "reason": "late invoice"})
    assert response.status_code == 302
    assert not MonthClose.objects.get().is_closed


def test_closing_out_of_order_is_refused_beside_the_month(manager_client, manager):
    close_month(month=JANUARY, closed_by=manager)
    response = manager_client.post(reverse("accounting:close_month"), {"month": "2025-03"})
    assert response.status_code == 400
    assert "Months close in order: close February 2025 before March 2025." in response.content.decode()


def test_the_close_page_issues_a_fixed_number_of_queries(manager_client, manager, book, django_assert_num_queries):
    for month in (1, 2, 3):
        close_month(month=JANUARY.replace(month=month), closed_by=manager)
    # the books, the closes, their reproduction (4), the next month's preview (4)
    with django_assert_num_queries(SIGNED_IN + 10):
        response = manager_client.get(reverse("accounting:close"))
    assert [differences for _close, differences in response.context["closes"]] == [[], [], []]


# --- point value ------------------------------------------------------------------------------------


def test_a_manager_sets_a_new_point_value(manager_client):
    response = manager_client.post(reverse("accounting:point_value"), {"value": "0.0125", "note": "new catalog"})
    assert response.status_code == 302
    assert PointValue.objects.latest("effective_from").value == Decimal("0.0125")
    html = manager_client.get(reverse("accounting:point_value")).content.decode()
    assert "new catalog" in html and 'id="point-value">0.0125 USD</dd>' in html


def test_a_point_value_that_cannot_be_is_refused_beside_its_field(manager_client):
    response = manager_client.post(reverse("accounting:point_value"), {"value": "0.00001"})
    assert response.status_code == 400
    assert error_beside(response.content.decode(), "value") == "Ensure that there are no more than 4 decimal places."
    assert PointValue.objects.count() == 1


# --- who may ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["liability", "breakage", "ageing", "close", "point_value"])
def test_store_staff_get_the_managers_only_page(staff_client, name):
    response = staff_client.get(reverse(f"accounting:{name}"))
    assert response.status_code == 403


def test_signed_out_visitors_go_to_sign_in(client):
    response = client.get(LIABILITY)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_managers_find_the_accounting_section(manager, staff):
    sections = {section.label: [link.label for link in section.links] for section in navigation_for(manager, "/")}
    assert sections["Accounting"] == ["Liability", "Breakage and revenue", "Ageing", "Month close", "Point value"]
    assert "Accounting" not in {section.label for section in navigation_for(staff, "/")}


@pytest.mark.parametrize("name", ["liability", "breakage", "ageing", "close", "point_value"])
def test_every_page_works_before_the_first_point(manager_client, name):
    response = manager_client.get(reverse(f"accounting:{name}"))
    assert response.status_code == 200
    if name == "liability":
        assert "No points yet." in response.content.decode()
        assert response.context["rows"][-1].closing.points == 0
