"""The managers' customer list as a django-tables2 table. Thin: the rows come from customers.selectors."""

from __future__ import annotations

from decimal import Decimal

import django_tables2 as tables
from django.utils import timezone

from loyalty_site.formatting import day, money
from rewards.tables import NUMERIC, PointsColumn, SortedColumn, export_rows

CENT = Decimal("0.01")
# A page of 25 is a screen; a download takes the whole filtered, sorted list.
PER_PAGE = 25


class MoneyColumn(SortedColumn):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, attrs=NUMERIC, descending_first=True, **kwargs)

    def render(self, value):
        return money(value)


class DayColumn(SortedColumn):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, descending_first=True, attrs={"td": {"class": "nowrap"}}, **kwargs)

    def render(self, value):
        return day(value)


class CustomerListTable(tables.Table):
    member_number = SortedColumn(
        sort_key="member_number", verbose_name="Member number", linkify=("customers:customer", {"pk": tables.A("pk")})
    )
    name = SortedColumn(sort_key="name", verbose_name="Name", linkify=("customers:customer", {"pk": tables.A("pk")}))
    balance = PointsColumn(sort_key="balance", verbose_name="Balance")
    tier_name = SortedColumn(sort_key="tier_rank", verbose_name="Tier", default="—", descending_first=True)
    last_visit = DayColumn(sort_key="last_visit", verbose_name="Last visit", default="never")
    spend_12m = MoneyColumn(sort_key="spend_12m", verbose_name="Spend, 12 months")
    points_12m = PointsColumn(sort_key="points_12m", verbose_name="Points, 12 months")

    class Meta:
        template_name = "django_tables2/sortable.html"
        attrs = {"class": "table report-table", "id": "customer-list"}
        order_by_field = "sort"
        per_page = PER_PAGE
        empty_text = "No customer matches these filters."

    def as_values(self, exclude_columns=None):
        """The download: every filtered row in the order on screen, numbers as numbers (tablib)."""
        records = self.data.data.values(
            "member_number", "name", "balance", "tier_name", "last_visit", "spend_12m", "points_12m"
        ).iterator(chunk_size=5000)
        yield from export_rows(self, _local_days(records), exclude_columns=exclude_columns or ())


def _local_days(records):
    # The last visit as the merchant's calendar day, as on the page (a spreadsheet has no time zone); money
    # with its two places, whatever the database returned for a customer without purchases.
    for record in records:
        visit = record["last_visit"]
        yield {
            **record,
            "last_visit": timezone.localdate(visit) if visit else None,
            "spend_12m": Decimal(str(record["spend_12m"] or 0)).quantize(CENT),
        }
