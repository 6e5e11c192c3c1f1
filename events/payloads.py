"""The `data` of each event type, built from what the publishing service already holds (no extra query
where it can be avoided). Amounts are decimal strings, moments ISO 8601 with their offset, customers by
member number: the same conventions as the JSON API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal


def _moment(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def customer_ref(member_number: str) -> dict:
    return {"member_number": member_number}


def customer_enrolled(customer) -> dict:
    return {
        "customer": {
            "member_number": customer.member_number,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "enrolled_at": _moment(customer.date_joined),
            "referred_by": customer.referred_by.member_number if customer.referred_by_id else None,
        }
    }


def transaction_data(recorded) -> dict:
    data = {
        "id": recorded.pk,
        "kind": recorded.kind,
        "receipt_number": recorded.receipt_number,
        "store": recorded.store.code,
        "amount": _amount(recorded.amount),
        "occurred_at": _moment(recorded.occurred_at),
        "source": recorded.source,
    }
    if recorded.refund_of_id:
        data["refund_of"] = {"id": recorded.refund_of_id, "receipt_number": recorded.refund_of.receipt_number}
    return data


def purchase_recorded(purchase, *, member_number: str, points: int, lines: Iterable, bonuses: Iterable) -> dict:
    return {
        "transaction": transaction_data(purchase),
        "customer": customer_ref(member_number),
        "points": points,
        "lines": [{"label": line.label, "points": line.points} for line in lines],
        "bonuses": [
            {"points": entry.points, "reason": entry.reason, "to_referrer": entry.customer_id != purchase.customer_id}
            for entry in bonuses
        ],
    }


def refund_recorded(refund, *, member_number: str, points: int) -> dict:
    return {"transaction": transaction_data(refund), "customer": customer_ref(member_number), "points": points}


def redemption_recorded(redemption, *, member_number: str, undone: bool) -> dict:
    return {
        "redemption": {
            "id": redemption.pk,
            "reward": {"id": redemption.reward_id, "name": redemption.reward.name},
            "points": redemption.points,
            "store": redemption.store.code,
            "redeemed_at": _moment(redemption.redeemed_at),
            "undone_at": _moment(redemption.undone_at),
        },
        "customer": customer_ref(member_number),
        # The points this event moved: spent (negative) or given back by the undoing (positive).
        "points": redemption.points if undone else -redemption.points,
    }


def tier_changed(*, member_number: str, before, after, since: dt.datetime) -> dict:
    return {
        "customer": customer_ref(member_number),
        "from": before.name if before is not None else None,
        "to": after.name if after is not None else None,
        "direction": "up" if after is not None and (before is None or after.rank > before.rank) else "down",
        "since": _moment(since),
    }


def points_expired(*, member_number: str, entries: Iterable) -> dict:
    entries = list(entries)
    return {
        "customer": customer_ref(member_number),
        "points": sum(entry.points for entry in entries),
        "lots": [{"earned_in": entry.facts.get("lot", "")[:7], "points": entry.points} for entry in entries],
        "effective_at": _moment(max(entry.effective_at for entry in entries)),
    }


def adjustment_posted(request, entry, *, member_number: str) -> dict:
    return {
        "customer": customer_ref(member_number),
        "points": entry.points,
        "reason": request.reason,
        "requested_by": request.requested_by.get_username(),
        "approved_by": request.decided_by.get_username() if request.decided_by_id else None,
        "effective_at": _moment(entry.effective_at),
    }
