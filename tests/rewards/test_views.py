"""The managers' reports (rewards/views.py): numbers on a hand-checked record, sorting, filtering, the
footer, exports, the statement, the glance page, query counts and access.

The record, in TIME_ZONE America/New_York, for January to March 2025 (classic rule: 120.00 earns 90,
75.00 earns 25, 49.99 earns 0; refunding 30.00 of 120.00 leaves 90.00, which earns 40, so -50):

    A001 Ann    120.00 on Jan 31 23:30 (Feb 1 in UTC)            Jan  90
                refund 30.00 of it on Feb 1 00:10                Feb -50          total  40
    B002 Bob     75.00 on Feb 28 23:59                            Feb  25
                 49.99 on Mar 1 00:00                             Mar   0          total  25
    C003 Cy     120.00 on Mar 15 at the Harbour store             Mar  90          total  90
    D004 Dee     75.00 on Dec 31 2024 23:59: before the period    (not listed)
    E005 =1+2    75.00 on Jan 10                                  Jan  25          total  25
    footer                                                        Jan 115  Feb -25  Mar 90  total 180
"""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse

from loyalty_site.formatting import moment, month_label
from rewards.calendar import add_months
from rewards.local_time import current_month
from rewards.selectors import monthly_points
from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund

pytestmark = pytest.mark.django_db

URL = reverse("reports:points")
PERIOD = {"start": "2025-01", "months": "3"}


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def record(new_york):
    harbour = StoreFactory(code="harbour", name="Harbour")
    ann = CustomerFactory(member_number="A001", name="Ann Archer")
    bob = CustomerFactory(member_number="B002", name="Bob Baker")
    cy = CustomerFactory(member_number="C003", name="Cy Cole")
    dee = CustomerFactory(member_number="D004", name="Dee Dale")
    eve = CustomerFactory(member_number="E005", name="=1+2")
    bought = purchase(ann, "120.00", when=at(2025, 1, 31, 23, 30))
    refund(bought, "30.00", when=at(2025, 2, 1, 0, 10))
    purchase(bob, "75.00", when=at(2025, 2, 28, 23, 59))
    purchase(bob, "49.99", when=at(2025, 3, 1, 0, 0))
    purchase(cy, "120.00", when=at(2025, 3, 15), store=harbour)
    purchase(dee, "75.00", when=at(2024, 12, 31, 23, 59))
    purchase(eve, "75.00", when=at(2025, 1, 10))
    return {"ann": ann, "bob": bob, "cy": cy, "dee": dee, "eve": eve, "harbour": harbour}


# The report's last columns are the period's redeemed, expired and adjusted points (issue 7). The tests of
# what was earned read the cells up to the total; tests of their own check the three.
SPENT_COLUMNS = ["Redeemed", "Expired", "Adjusted"]


def earned_part(cells: list, spent: bool) -> list:
    return cells if spent else cells[: -len(SPENT_COLUMNS)]


def table_rows(response, *, spent: bool = False) -> list[list[str]]:
    """The report table's body as text, one list per row."""
    rows = []
    for row in response.context["table"].paginated_rows:
        cells = [str(row.get_cell_value(name)) for name in response.context["table"].columns.names()]
        rows.append(earned_part(cells, spent))
    return rows


def body_rows(html: str, *, spent: bool = False) -> list[list[str]]:
    """The cells of the rendered table's body, tags stripped."""
    tbody = html.split('id="monthly-points"', 1)[1].split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", tbody, re.S)
    ]
    # A row of one cell is the table's "nothing here" line.
    return [earned_part(row, spent) if len(row) > 1 else row for row in rows]


def footer_cells(html: str, *, spent: bool = False) -> list[str]:
    tfoot = html.split("<tfoot", 1)[1].split("</tfoot>", 1)[0]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", tfoot, re.S)]
    return earned_part(cells, spent)


def csv_rows(content: bytes, *, spent: bool = False) -> list[list[str]]:
    return [earned_part(row, spent) for row in csv.reader(io.StringIO(content.decode("utf-8")))]


# --- numbers ----------------------------------------------------------------------------------------


def test_the_page_shows_the_hand_checked_numbers_and_footer(manager_client, record):
    response = manager_client.get(URL, PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert body_rows(html) == [
        ["A001", "Ann Archer", "90", "-50", "0", "40"],
        ["B002", "Bob Baker", "0", "25", "0", "25"],
        ["C003", "Cy Cole", "0", "0", "90", "90"],
        ["E005", "=1+2", "25", "0", "0", "25"],
    ]
    assert footer_cells(html) == ["Total", "", "115", "-25", "90", "180"]
    # Month headings as people read them (a month not yet over says so), and links to the statement.
    assert ">Jan 2025</a>" in html and ">Mar 2025</a>" in html
    assert "(so far)" not in html
    assert f'href="{reverse("reports:statement", args=[record["ann"].pk])}"' in html
    assert "Jan 2025 to Mar 2025" in html


def test_the_page_agrees_with_the_selector_the_command_uses(manager_client, record):
    """The page's CSV export and monthly_points (which `points_report` prints) give the same rows."""
    report = monthly_points(start=at(2025, 1, 1).date(), months=3)
    expected = [
        [row["member_number"], row["name"], *[str(row[c.key]) for c in report.months], str(row["total"])]
        for row in report.rows
    ]
    response = manager_client.get(URL, {**PERIOD, "_export": "csv"})
    exported = csv_rows(response.content)
    assert exported[0] == ["Member number", "Name", "2025-01", "2025-02", "2025-03", "Total"]
    # The export neutralises the formula-like name; otherwise the rows are the selector's.
    assert [[cell.removeprefix("'") for cell in row] for row in exported[1:-1]] == expected
    # The download ends with the totals the page's footer shows.
    assert exported[-1] == ["Total", "", "115", "-25", "90", "180"]
    assert report.totals() == {
        "m_2025_01": 115,
        "m_2025_02": -25,
        "m_2025_03": 90,
        "total": 180,
        "redeemed": 0,
        "expired": 0,
        "adjusted": 0,
    }


def test_the_page_agrees_with_the_points_report_command(manager_client, record):
    """The page's CSV export and `manage.py points_report --format csv` list the same customers and numbers."""
    output = io.StringIO()
    call_command("points_report", "--start", "2025-01", "--months", "3", "--format", "csv", stdout=output)
    command_rows = list(csv.reader(io.StringIO(output.getvalue())))
    response = manager_client.get(URL, {**PERIOD, "_export": "csv"})
    # The command prints what was earned (its CSV and JSON are an interface); the page adds the spent columns.
    page_rows = csv_rows(response.content)
    # Same months in the headings (the page names its columns for people); both neutralise formula-like names.
    assert [cell.lower() for cell in command_rows[0][2:]] == [cell.lower() for cell in page_rows[0][2:]]
    assert page_rows[1:-1] == command_rows[1:]
    assert page_rows[-1][0] == "Total"
    assert ["E005", "'=1+2", "25", "0", "0", "25"] in command_rows
    assert len(command_rows) == 5


def test_default_period_is_the_last_three_complete_months(manager_client, new_york):
    response = manager_client.get(URL)
    first = add_months(current_month(), -3)
    assert [column.month for column in response.context["report"].months] == [
        first,
        add_months(first, 1),
        add_months(first, 2),
    ]
    html = response.content.decode()
    assert f'value="{first:%Y-%m}"' in html
    assert f"start={add_months(first, -3):%Y-%m}" in html  # previous period
    assert f"start={current_month():%Y-%m}" in html  # next period


def test_previous_and_next_links_keep_the_filters(manager_client, record):
    response = manager_client.get(URL, {**PERIOD, "search": "ann", "sort": "-total"})
    assert response.context["previous_query"] == "start=2024-10&months=3&search=ann&sort=-total"
    assert response.context["next_query"] == "start=2025-04&months=3&search=ann&sort=-total"


# --- sorting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("-total", ["C003", "A001", "B002", "E005"]),  # B002 and E005 tie at 25: member number decides
        ("total", ["B002", "E005", "A001", "C003"]),
        ("-m_2025_01", ["A001", "E005", "B002", "C003"]),
        ("m_2025_02", ["A001", "C003", "E005", "B002"]),
        ("-member_number", ["E005", "C003", "B002", "A001"]),
        ("name", ["E005", "A001", "B002", "C003"]),
        ("no-such-column", ["A001", "B002", "C003", "E005"]),
    ],
)
def test_sorting_by_any_column_orders_in_sql(manager_client, record, sort, order):
    response = manager_client.get(URL, {**PERIOD, "sort": sort})
    assert [row[0] for row in body_rows(response.content.decode())] == order
    # The footer is the whole result's, whatever the order.
    assert footer_cells(response.content.decode())[-1] == "180"


def test_sorting_is_done_by_the_database(record):
    report = monthly_points(start=at(2025, 1, 1).date(), months=3)
    from rewards.tables import MonthlyPointsTable

    table = MonthlyPointsTable(report.rows, months=report.months, order_by="-total")
    query = table.data.data.query
    assert [str(key) for key in query.order_by] == [
        str(F("total").desc()),
        "member_number",
    ]
    assert "ORDER BY" in str(query)


# --- filtering --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "members", "footer"),
    [
        ({"search": "bob"}, ["B002"], ["Total", "", "0", "25", "0", "25"]),
        ({"search": "c00"}, ["C003"], ["Total", "", "0", "0", "90", "90"]),
        ({"min_total": "30"}, ["A001", "C003"], ["Total", "", "90", "-50", "90", "130"]),
        (
            {"min_total": "-5", "search": "e"},
            ["A001", "B002", "C003", "E005"],
            ["Total", "", "115", "-25", "90", "180"],
        ),
    ],
)
def test_filters_narrow_rows_and_footer(manager_client, record, filters, members, footer):
    response = manager_client.get(URL, {**PERIOD, **filters})
    html = response.content.decode()
    assert [row[0] for row in body_rows(html)] == members
    assert footer_cells(html) == footer
    assert response.context["row_count"] == len(members)


def test_store_filter_counts_only_that_stores_transactions(manager_client, record):
    response = manager_client.get(URL, {**PERIOD, "store": record["harbour"].pk})
    html = response.content.decode()
    assert body_rows(html) == [["C003", "Cy Cole", "0", "0", "90", "90"]]
    assert footer_cells(html) == ["Total", "", "0", "0", "90", "90"]


def test_nothing_matches(manager_client, record):
    response = manager_client.get(URL, {**PERIOD, "search": "nobody"})
    assert "No customer earned" in response.content.decode()
    assert footer_cells(response.content.decode()) == ["Total", "", "0", "0", "0", "0"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "2025-13"}, "start", "“2025-13” is not a month. Enter a month as YYYY-MM"),
        ({"start": "January"}, "start", "Enter a month as YYYY-MM"),
        ({"start": "0001-01"}, "start", "Choose a month from 1900-01 to 2999-12."),
        ({"start": "9999-12"}, "start", "Choose a month from 1900-01 to 2999-12."),
        ({"months": "0"}, "months", "Choose from 1 to 24 months."),
        ({"months": "25"}, "months", "Choose from 1 to 24 months."),
        ({"months": "three"}, "months", "Enter a whole number of months"),
        ({"min_total": "ten"}, "min_total", "Enter a whole number"),
        ({"store": "999999"}, "store", "Select a valid choice"),
    ],
)
def test_bad_input_is_explained_beside_its_field(manager_client, record, params, field, message):
    response = manager_client.get(URL, {**PERIOD, **params})
    assert response.status_code == 400
    html = response.content.decode()
    errors = html.split(f'id="id_{field}_error"', 1)[1].split("</p>", 1)[0]
    assert message in errors
    assert "table" not in response.context or response.context.get("table") is None


# django-tables2 shows the first page for a page that is not a number, the last for one out of range.
@pytest.mark.parametrize(("page", "shown"), [("abc", 1), ("99", 2), ("-1", 2)])
def test_a_page_number_out_of_range_shows_a_page_instead_of_an_error(manager_client, new_york, page, shown):
    for customer in CustomerFactory.create_batch(30):
        purchase(customer, "75.00", when=at(2025, 1, 15))
    response = manager_client.get(URL, {**PERIOD, "page": page})
    assert response.status_code == 200
    assert response.context["table"].page.number == shown


def test_pagination_keeps_the_footer_of_the_whole_result(manager_client, new_york):
    customers = CustomerFactory.create_batch(30)
    for customer in customers:
        purchase(customer, "75.00", when=at(2025, 1, 15))
    first = manager_client.get(URL, {**PERIOD, "sort": "member_number"})
    second = manager_client.get(URL, {**PERIOD, "sort": "member_number", "page": "2"})
    assert len(body_rows(first.content.decode())) == 25
    assert len(body_rows(second.content.decode())) == 5
    assert footer_cells(second.content.decode())[-1] == str(30 * 25)
    assert first.context["table"].paginator.num_pages == 2
    shown = [row[0] for row in body_rows(first.content.decode()) + body_rows(second.content.decode())]
    assert shown == sorted(customer.member_number for customer in customers)


# --- exports ----------------------------------------------------------------------------------------


def test_csv_export_is_the_whole_filtered_sorted_result_with_formulas_neutralised(manager_client, record):
    response = manager_client.get(URL, {**PERIOD, "sort": "-total", "min_total": "25", "_export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="monthly-points-2025-01-3m.csv"' in response["Content-Disposition"]
    rows = csv_rows(response.content, spent=True)
    assert rows == [
        ["Member number", "Name", "2025-01", "2025-02", "2025-03", "Total", *SPENT_COLUMNS],
        ["C003", "Cy Cole", "0", "0", "90", "90", "0", "0", "0"],
        ["A001", "Ann Archer", "90", "-50", "0", "40", "0", "0", "0"],
        ["B002", "Bob Baker", "0", "25", "0", "25", "0", "0", "0"],
        ["E005", "'=1+2", "25", "0", "0", "25", "0", "0", "0"],
        ["Total", "", "115", "-25", "90", "180", "0", "0", "0"],
    ]


def test_csv_export_is_not_limited_to_one_page(manager_client, new_york):
    for customer in CustomerFactory.create_batch(30):
        purchase(customer, "49.99", when=at(2025, 2, 1))
    response = manager_client.get(URL, {**PERIOD, "_export": "csv", "page": "1"})
    assert len(list(csv.reader(io.StringIO(response.content.decode())))) == 1 + 30 + 1  # header, rows, totals


def test_xlsx_export_opens_with_numbers_and_no_formulas(manager_client, record):
    record["bob"].name = "@SUM(A1:A9)"
    record["bob"].save()
    response = manager_client.get(URL, {**PERIOD, "sort": "-total", "_export": "xlsx"})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows == [
        ["Member number", "Name", "2025-01", "2025-02", "2025-03", "Total", *SPENT_COLUMNS],
        ["C003", "Cy Cole", 0, 0, 90, 90, 0, 0, 0],
        ["A001", "Ann Archer", 90, -50, 0, 40, 0, 0, 0],
        ["B002", "'@SUM(A1:A9)", 0, 25, 0, 25, 0, 0, 0],
        ["E005", "'=1+2", 25, 0, 0, 25, 0, 0, 0],
        ["Total", None, 115, -25, 90, 180, 0, 0, 0],
    ]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ann", "Ann"),
        ("", ""),
        (-50, -50),
        (0, 0),
    ],
)
def test_neutralise_formula(value, expected):
    from rewards.exports import neutralise_formula

    assert neutralise_formula(value) == expected


# --- query counts -----------------------------------------------------------------------------------


def _customers_with_points(count: int, store=None):
    for customer in CustomerFactory.create_batch(count):
        bought = purchase(customer, "120.00", when=at(2025, 1, 20), store=store)
        refund(bought, "10.00", when=at(2025, 2, 3))


# session, user, the user's permissions (two: own and group), then the page's own queries.
SIGNED_IN = 4


@pytest.mark.parametrize("customers", [3, 30])
@pytest.mark.parametrize(
    ("params", "page_queries"),
    [
        # count and footer in one, the page of rows, the store choices
        (PERIOD, 3),
        ({**PERIOD, "sort": "-total", "search": "M", "min_total": "1", "page": "2"}, 3),
        # and the chosen store, validated
        ({**PERIOD, "store": "STORE"}, 4),
        # the whole result in one query, its totals, and the audit trail's record of who downloaded it
        ({**PERIOD, "sort": "-total", "_export": "csv"}, 3),
        ({**PERIOD, "_export": "xlsx"}, 3),
    ],
)
def test_monthly_report_query_count_is_fixed(
    manager_client, new_york, django_assert_num_queries, customers, params, page_queries
):
    store = StoreFactory(code="harbour")
    _customers_with_points(customers, store=store)
    params = {key: (str(store.pk) if value == "STORE" else value) for key, value in params.items()}
    with django_assert_num_queries(SIGNED_IN + page_queries):
        response = manager_client.get(URL, params)
    assert response.status_code == 200


@pytest.mark.parametrize("entries", [3, 30])
def test_statement_query_count_is_fixed(manager_client, new_york, django_assert_num_queries, entries):
    customer = CustomerFactory()
    for day in range(entries):
        purchase(customer, "60.00", when=at(2025, 1, 1) + dt.timedelta(days=day))
    # customer, balance, months of the chart, ledger count, ledger page; for points expiring soon: the
    # expiry rules, the customer's roll-up months, their expiry keys; the program's tiers (none here)
    with django_assert_num_queries(SIGNED_IN + 9):
        response = manager_client.get(reverse("reports:statement", args=[customer.pk]))
    assert len(response.context["ledger"].page.object_list) == min(entries, 25)


@pytest.mark.parametrize("customers", [3, 30])
def test_glance_query_count_is_fixed(manager_client, new_york, django_assert_num_queries, customers):
    _customers_with_points(customers)
    # the roll-up by month, enrolments by month, the program, its point value history, the points outstanding;
    # per store: purchases, repeat customers by store and overall, points earned, redemptions, the stores' names
    with django_assert_num_queries(SIGNED_IN + 11):
        response = manager_client.get(reverse("reports:glance"), {"start": "2025-01", "months": "12"})
    assert response.context["outstanding"] == customers * (90 - 20)


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reports:glance", "reports:points", "reports:statement"])
def test_store_staff_get_the_managers_only_page(staff_client, name):
    customer = CustomerFactory()
    url = reverse(name, args=[customer.pk]) if name == "reports:statement" else reverse(name)
    response = staff_client.get(url)
    assert response.status_code == 403
    assert "This page is for managers" in response.content.decode()


@pytest.mark.parametrize("name", ["reports:glance", "reports:points", "reports:statement"])
def test_signed_out_visitors_go_to_sign_in(client, name):
    url = reverse(name, args=[1]) if name == "reports:statement" else reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_export_is_managers_only_too(staff_client):
    response = staff_client.get(URL, {"_export": "csv"})
    assert response.status_code == 403
    assert "Content-Disposition" not in response


# --- the customer statement -------------------------------------------------------------------------


def test_statement_shows_header_chart_and_ledger_in_the_merchants_time_zone(manager_client, new_york):
    this_month = current_month()
    last_month = add_months(this_month, -1)
    ann = CustomerFactory(
        member_number="A001",
        name="Ann Archer",
        email="ann@example.com",
        phone="+12125550130",
        date_joined=at(2024, 5, 6),
    )
    harbour = StoreFactory(code="harbour", name="Harbour")
    # The last minute of last month in New York is already this month in UTC.
    last_minute = at(this_month.year, this_month.month, 1, 0, 0) - dt.timedelta(minutes=1)
    bought = purchase(ann, "120.00", when=last_minute, store=harbour, receipt="R-1")
    refund(bought, "30.00", when=at(this_month.year, this_month.month, 1, 0, 5), receipt_number="R-2")
    purchase(ann, "49.99", when=at(this_month.year, this_month.month, 1, 0, 10), receipt="R-3")
    purchase(ann, "75.00", when=at(2020, 1, 5), receipt="R-0")  # long ago: in the ledger, not in the chart

    response = manager_client.get(reverse("reports:statement", args=[ann.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ["A001", "Ann Archer", "ann@example.com", "(212) 555-0130", "May 6, 2024"]:
        assert text in html
    assert response.context["balance"] == 90 - 50 + 0 + 25
    assert '<dd id="balance">65 points</dd>' in html

    # The chart: the last twelve months, last month earned 90, this month -50 reversed.
    by_month = response.context["by_month"]
    assert [row.month for row in by_month] == [add_months(this_month, offset) for offset in range(-11, 1)]
    assert (by_month[-2].earned, by_month[-2].reversed) == (90, 0)
    assert (by_month[-1].earned, by_month[-1].reversed) == (0, -50)
    assert sum(row.earned for row in by_month[:-2]) == 0
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert '<title id="statement-chart-title">Points of Ann Archer per month' in svg
    assert "<desc" in svg
    assert f"<title>{last_month:%Y-%m} earned: 90</title>" in svg
    assert f"<title>{this_month:%Y-%m} reversed: -50</title>" in svg
    assert "https://" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    # The text alternative: the same figures as a table.
    months_table = html.split('id="statement-months"', 1)[1].split("</table>", 1)[0]
    assert f'<th scope="row">{month_label(last_month)}</th><td class="num">90</td>' in months_table

    # The ledger, newest first, in New York time, with amounts, stores and the engine's explanation.
    ledger = html.split('id="ledger"', 1)[1].split("</table>", 1)[0]
    # On a tablet the store (and the author) are a line under the transaction instead of columns (site.css).
    narrow = re.compile(r'<span class="narrow-only[^"]*">(.*?)</span></td>', re.S)
    assert [re.sub(r"<[^>]+>", "", line) for line in narrow.findall(ledger)] == [
        "Main store",
        "Harbour",
        "Harbour",
        "Main store",
    ]
    cells = [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", narrow.sub("</td>", ledger).split("<tbody", 1)[1], re.S)
    ]
    first_day = at(this_month.year, this_month.month, 1)
    assert [row[:6] for row in cells] == [
        [moment(first_day.replace(minute=10, hour=0)), "Earned", "Purchase R-3", "Main store", "$49.99", "0"],
        [moment(first_day.replace(minute=5, hour=0)), "Reversed (refund)", "Refund R-2", "Harbour", "$30.00", "−50"],
        [moment(last_minute), "Earned", "Purchase R-1", "Harbour", "$120.00", "+90"],
        [moment(at(2020, 1, 5)), "Earned", "Purchase R-0", "Main store", "$75.00", "+25"],
    ]
    # Every line of how 120.00 earned 90, as on the till: 50 × 1 and 20 × 2.
    assert cells[2][6] == "50 × 1 (50–100): 5020 × 2 (over 100): +40"  # two list items, tags stripped
    assert "refund of 30.00 from 120.00" in cells[1][6]


def test_statement_of_an_unknown_customer_is_404(manager_client):
    assert manager_client.get(reverse("reports:statement", args=[999999])).status_code == 404


def test_statement_ledger_is_paginated(manager_client, new_york):
    customer = CustomerFactory()
    for day in range(30):
        purchase(customer, "60.00", when=at(2025, 1, 1) + dt.timedelta(days=day))
    first = manager_client.get(reverse("reports:statement", args=[customer.pk]))
    second = manager_client.get(reverse("reports:statement", args=[customer.pk]), {"page": "2"})
    assert len(first.context["ledger"].page.object_list) == 25
    assert len(second.context["ledger"].page.object_list) == 5
    assert first.context["balance"] == 30 * 10


# --- the program at a glance ------------------------------------------------------------------------


def test_glance_shows_points_customers_enrolments_and_liability(manager_client, record):
    for customer, joined in [
        ("ann", at(2025, 1, 31, 23, 30)),  # January in New York (February in UTC)
        ("bob", at(2025, 2, 1, 0, 0)),
        ("cy", at(2025, 2, 14)),
        ("dee", at(2024, 12, 31, 23, 59)),
        ("eve", at(2025, 3, 31, 23, 59)),
    ]:
        record[customer].date_joined = joined
        record[customer].save()

    response = manager_client.get(reverse("reports:glance"), {"start": "2025-01", "months": "3"})
    assert response.status_code == 200
    rows = [
        (row.month.month, row.earned, row.reversed, row.redeemed, row.expired, row.active_customers, row.new_customers)
        for row in response.context["by_month"]
    ]
    assert rows == [
        # month, earned, reversed, redeemed, expired, active (any entry), new enrolments
        (1, 90 + 25, 0, 0, 0, 2, 1),  # Ann's 120.00, Eve's 75.00; Ann joined
        (2, 25, -50, 0, 0, 2, 2),  # Bob's 75.00, Ann's refund; Bob and Cy joined
        (3, 90 + 0, 0, 0, 0, 2, 1),  # Cy's 120.00, Bob's 49.99 (0 points, still active); Eve joined
    ]
    assert response.context["outstanding"] == 40 + 25 + 90 + 25 + 25
    html = response.content.decode()
    assert '<dd id="outstanding">205</dd>' in html
    assert '<dd id="liability">$2.05</dd>' in html
    table = html.split('id="glance-months"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">Feb 2025</th><td class="num">25</td><td class="num">−50</td>' in table
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert '<title id="glance-chart-title">Points per month, January 2025 to March 2025</title>' in svg
    # Per store: Ann's 120.00, Bob's 75.00 and 49.99 and Eve's 75.00 at the main store; Cy's 120.00 at Harbour.
    stores = {store.name: store for store in response.context["stores"]}
    main, harbour, every = stores["Main store"], stores["Harbour"], response.context["all_stores"]
    assert (main.purchases, main.members, main.repeat_members, main.earned) == (4, 3, 1, 90)
    assert main.sales == Decimal("319.99")
    assert (harbour.purchases, harbour.members, harbour.repeat_members, harbour.earned) == (1, 1, 0, 90)
    assert (every.purchases, every.members, every.repeat_members, every.earned) == (5, 4, 1, 180)
    assert '<dd id="average-purchase">$88.00</dd>' in html  # 439.99 / 5
    assert '<dd id="repeat-rate">25%</dd>' in html  # Bob, of four who bought
    assert '<dd id="active-members">4</dd>' in html
    assert "<title>2025-02 reversed: -50</title>" in svg


def test_glance_defaults_to_the_last_twelve_months(manager_client, new_york):
    response = manager_client.get(reverse("reports:glance"))
    months = [row.month for row in response.context["by_month"]]
    assert months[-1] == current_month() and len(months) == 12
    assert response.context["outstanding"] == 0


def test_glance_explains_a_bad_period(manager_client):
    response = manager_client.get(reverse("reports:glance"), {"start": "2025-13"})
    assert response.status_code == 400
    assert "Enter a month as YYYY-MM" in response.content.decode()
