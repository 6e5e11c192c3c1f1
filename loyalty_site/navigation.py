"""The site's navigation, declared once: sections, their pages, and who may see each.

The header lists the sections the signed-in user may use; the current section's pages appear beneath it,
the current page marked (`aria-current="page"`). A page belongs to the link whose path is the longest
prefix of the request's path, so a customer's page (/customers/12/) lights up "Customers". A new page is
one `Link` here: the roles that may use it then find it, and nobody else sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from .access import can_manage_program, can_manage_staff, can_use_admin, is_manager, is_store_staff


def _can_find_customers(user) -> bool:
    return user.has_perm("customers.view_customer")


def _can_read_audit(user) -> bool:
    return user.has_perm("audit.view_auditevent")


@dataclass(frozen=True)
class Link:
    label: str
    url_name: str
    allowed: Callable[[object], bool]
    # What the page is for, on the start page's tiles.
    description: str = ""
    # Other path prefixes that count as this page (pages reached from it, e.g. a customer's statement).
    also: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return reverse(self.url_name)


@dataclass(frozen=True)
class Section:
    label: str
    links: tuple[Link, ...]


NAVIGATION: tuple[Section, ...] = (
    Section(
        "Till",
        (
            Link(
                "Till",
                "transactions:till",
                is_store_staff,
                "Record purchases and refunds",
                also=("/transactions/",),
            ),
        ),
    ),
    Section(
        "Customers",
        (
            Link("Find a customer", "customers:search", _can_find_customers, "By member number, phone, email or name"),
            Link(
                "Customer list",
                "customers:list",
                is_manager,
                "Balances, tiers, last visits and spend: sort, filter, download",
            ),
            Link(
                "Adjustments to approve",
                "customers:adjustments",
                is_manager,
                "Large adjustments waiting for a second manager",
            ),
            Link("Join poster", "members:poster", is_store_staff, "The join page's QR code, to print for the counter"),
        ),
    ),
    Section(
        "Reports",
        (
            Link("At a glance", "reports:glance", is_manager, "Points per month and the liability"),
            Link(
                "Monthly points",
                "reports:points",
                is_manager,
                "Points per customer per month",
                also=("/reports/customers/",),
            ),
            Link("Feedback", "members:feedback_report", is_manager, "Would members recommend you, and what they spent"),
        ),
    ),
    Section(
        "Program",
        (
            Link(
                "Earning rule",
                "program:settings",
                can_manage_program,
                "Bands, promotions, stamp card, bonuses, versions",
            ),
            Link(
                "What-if simulator", "program:simulate", can_manage_program, "Replay past months under the draft rule"
            ),
            Link("Recalculate", "program:recalculate", can_manage_program, "Re-rate past months under a version"),
            Link("Rewards", "program:rewards", can_manage_program, "The catalog customers redeem points for"),
            Link("Tiers", "program:tiers", can_manage_program, "Member levels and their earning multipliers"),
            Link("Policies", "program:policies", can_manage_program, "Expiry, refunds of spent points, approvals"),
            Link("Members", "members:settings", can_manage_program, "Joining online, member emails, feedback"),
        ),
    ),
    Section(
        "Accounting",
        (
            Link("Liability", "accounting:liability", is_manager, "Points owed: the roll-forward by month and store"),
            Link("Breakage and revenue", "accounting:breakage", is_manager, "Redemption rate, breakage, revenue"),
            Link("Ageing", "accounting:ageing", is_manager, "Points outstanding by age, and lapses ahead"),
            Link("Month close", "accounting:close", is_manager, "Close a month's books; reopen (owners)"),
            Link("Point value", "accounting:point_value", is_manager, "What a point is worth, and its history"),
        ),
    ),
    Section(
        "Integrations",
        (
            Link("Webhooks", "webhooks:endpoints", is_manager, "Tell the shop's other systems what happens here"),
            Link("Import transactions", "imports:upload", is_manager, "Upload a record of purchases and refunds"),
            Link("API keys", "api_keys:list", is_manager, "Keys for the point of sale and web shop: the JSON API"),
        ),
    ),
    Section(
        "People",
        (
            Link("Staff accounts", "accounts:staff", can_manage_staff, "Till accounts: create, till store, password"),
            Link("Audit log", "audit:log", _can_read_audit, "Who did what, when and from where"),
        ),
    ),
    Section("Admin", (Link("Admin", "admin:index", can_use_admin, "Data entry for every record"),)),
)


@dataclass(frozen=True)
class ShownLink:
    label: str
    url: str
    current: bool
    description: str


@dataclass(frozen=True)
class ShownSection:
    label: str
    url: str
    current: bool
    links: tuple[ShownLink, ...]


def navigation_for(user, path: str) -> list[ShownSection]:
    """The sections and links `user` may use, with the one for `path` marked current."""
    if not user.is_authenticated:
        return []
    visible = [(section, [link for link in section.links if link.allowed(user)]) for section in NAVIGATION]
    visible = [(section, links) for section, links in visible if links]
    best, best_length = None, -1
    for _, links in visible:
        for link in links:
            for prefix in (link.url, *link.also):
                if path.startswith(prefix) and len(prefix) > best_length:
                    best, best_length = link, len(prefix)
    shown = []
    for section, links in visible:
        rows = tuple(ShownLink(link.label, link.url, link is best, link.description) for link in links)
        shown.append(ShownSection(section.label, rows[0].url, any(row.current for row in rows), rows))
    return shown
