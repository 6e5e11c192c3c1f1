"""The till page and a transaction's page. Thin: parse with the forms, write through the services.

Every successful POST redirects (Post/Redirect/Get), so a refresh cannot resubmit; each rendered form
carries a fresh idempotency key, so a double click or a resubmitted old form records once.

What the till shows, by state (one primary action each):
- nobody chosen: the purchase form;
- a customer chosen (found, enrolled, or after a redemption): the form for them, their panel beside it
  (balance, tier, next reward, rewards to redeem, recent transactions with their refunds);
- a purchase or refund just recorded: its confirmation and an empty form for the next customer, and no
  panel of the previous customer (whose Redeem buttons would be one click from the wrong person);
- several matches: the choice, in the main area; nobody matches: the enrolment that records the purchase
  in the same step; the same amount for the same customer again within minutes: a question first.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.models import Customer
from customers.phones import display_phone
from customers.selectors import find_customers
from customers.services import enrol_customer
from loyalty_site.access import is_manager, staff_only
from loyalty_site.formatting import money
from rewards.models import Redemption, Reward
from rewards.selectors import (
    affordable_rewards,
    customer_tier_status,
    next_reward,
    recent_redemptions,
    transaction_account,
)
from rewards.services.redemption import RedemptionRefused, UndoRefused, can_undo_redemption, redeem, undo_redemption

from . import selectors
from .forms import EnrolForm, PurchaseForm, RefundForm, add_service_errors
from .models import Transaction
from .services import record_purchase, record_refund, recorded_with, remember_till_store

MATCH_LIMIT = 20
# What the enrolment step carries from the purchase form, so nothing typed is lost.
CARRIED = ["customer", "amount", "receipt_number", "store", "occurred_at", "idempotency_key"]


def _int(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 19 else None


def _renew_key_if_refused(form) -> None:
    """A missing, garbled or already used key: say so above the form and give it a fresh key to try again with."""
    if errors := form.errors.pop("idempotency_key", None):
        form.add_error(None, errors)
        form.data["idempotency_key"] = str(uuid.uuid4())


def _till_url(**params) -> str:
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return reverse("transactions:till") + (f"?{query}" if query else "")


def _enrol_guess(text: str) -> dict[str, str]:
    """Pre-fill the enrolment step with what the cashier typed: an email, a phone, or a name."""
    digits = sum(char.isdigit() for char in text)
    if "@" in text:
        return {"email": text}
    if digits >= 4 and not any(char.isalpha() for char in text):
        return {"phone": text}
    return {"name": text}


def _focus(form, default: str) -> None:
    """Put the cursor in the first field with an error, else in `default`."""
    name = next((name for name in form.fields if name in form.errors), default)
    if name in form.fields:
        form.fields[name].widget.attrs["autofocus"] = True


@dataclass(frozen=True)
class Repeat:
    """A purchase of the same amount for the same customer, recorded a few minutes ago."""

    customer: Customer
    earlier: Transaction
    minutes: int


def _customer_panel(request: HttpRequest, customer: Customer, *, refund_form: RefundForm | None = None, refund_of=None):
    """What the till shows beside the form for the chosen customer. A refund form with errors goes back to
    its own transaction's row (`refund_of`)."""
    points = selectors.customer_points(customer.pk)
    tier = customer_tier_status(customer.pk)
    tier_rank = tier.tier.rank if tier and tier.tier else None
    recent = selectors.recent_transactions(customer.pk)
    return {
        "customer": customer,
        "points": points,
        "tier": tier,
        # Each reward's form has its own key: a resubmitted form redeems that reward once.
        "rewards": [
            (reward, uuid.uuid4())
            for reward in affordable_rewards(customer.pk, balance=points.balance, tier_rank=tier_rank)
        ],
        "next_reward": next_reward(customer.pk, balance=points.balance, tier_rank=tier_rank),
        "redemptions": [(r, can_undo_redemption(r, request.user)) for r in recent_redemptions(customer.pk)],
        # Each refund form gets its own key: resubmitting one refund never records it twice.
        "recent": [(txn, refund_form if refund_of == txn.pk else None, uuid.uuid4()) for txn in recent],
    }


def _till_page(
    request: HttpRequest,
    *,
    form: PurchaseForm,
    store,
    manager: bool,
    customer: Customer | None = None,
    recorded: Transaction | None = None,
    refunded: Transaction | None = None,
    matches: list[Customer] | None = None,
    searched: str = "",
    enrol_form: EnrolForm | None = None,
    carried: dict[str, str] | None = None,
    redeemed: Redemption | None = None,
    repeat: Repeat | None = None,
    refund_form: RefundForm | None = None,
    refund_of: int | None = None,
) -> HttpResponse:
    form.fields["customer"].widget.attrs["data-suggest-url"] = reverse("transactions:customer_suggestions")
    done = recorded or refunded
    context = {
        "form": form,
        "store": store,
        "manager": manager,
        "recorded": recorded,
        "refunded": refunded,
        "done_account": transaction_account(done.pk) if done else None,
        "redeemed": redeemed,
        "matches": (matches or [])[:MATCH_LIMIT],
        "more_matches": len(matches or []) > MATCH_LIMIT,
        "searched": searched,
        "enrol_form": enrol_form,
        "carried": carried or {},
        "repeat": repeat,
        "customer": None,
    }
    if done:
        # The confirmation says where the customer stands now; their panel is not shown (see the module).
        points = selectors.customer_points(done.customer_id)
        context["done_points"] = points
        context["done_next_reward"] = next_reward(done.customer_id, balance=points.balance)
    if customer is not None:
        context.update(_customer_panel(request, customer, refund_form=refund_form, refund_of=refund_of))
    return render(request, "transactions/till.html", context)


@staff_only
@require_http_methods(["GET", "HEAD", "POST"])
def till(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _record_purchase(request)
    manager = is_manager(request.user)
    store = selectors.till_store_for(request.user)
    params = request.GET
    recorded = refunded = customer = redeemed = None
    if pk := _int(params.get("redeemed")):
        redeemed = Redemption.objects.select_related("customer", "reward").filter(pk=pk).first()
        customer = redeemed.customer if redeemed else None
    elif pk := _int(params.get("recorded")):
        recorded = selectors.transaction_for_page(pk, kind=Transaction.Kind.PURCHASE)
    elif pk := _int(params.get("refunded")):
        refunded = selectors.transaction_for_page(pk, kind=Transaction.Kind.REFUND)
    elif pk := _int(params.get("customer")):
        customer = Customer.objects.filter(pk=pk).first()
    initial = {"idempotency_key": uuid.uuid4(), "store": store}
    if customer:
        # A customer chosen or just enrolled: the purchase typed before goes on where it was.
        initial.update(
            customer=customer.member_number,
            amount=params.get("amount", ""),
            receipt_number=params.get("receipt_number", ""),
        )
        if manager:
            initial.update(store=_int(params.get("store")) or store, occurred_at=params.get("occurred_at", ""))
    form = PurchaseForm(initial=initial, manager=manager, stores=selectors.till_stores())
    # With the customer chosen, the cursor waits in Amount: type it (or check it) and press Enter.
    _focus(form, "amount" if customer else "customer")
    return _till_page(
        request,
        form=form,
        store=store,
        manager=manager,
        customer=customer,
        recorded=recorded,
        refunded=refunded,
        redeemed=redeemed,
    )


def _repeat_of(customer: Customer, amount) -> Repeat | None:
    minutes = settings.LOYALTY_REPEAT_PURCHASE_MINUTES
    if not minutes:
        return None
    earlier = selectors.same_purchase_recently(customer.pk, amount=amount, minutes=minutes)
    return Repeat(customer, earlier, minutes) if earlier else None


def _record_purchase(request: HttpRequest) -> HttpResponse:
    manager = is_manager(request.user)
    store = selectors.till_store_for(request.user)
    form = PurchaseForm(request.POST.copy(), manager=manager, stores=selectors.till_stores())
    form.is_valid()
    # A double click, a refresh of an old form, or the back button: the first submission stands, whatever
    # was typed or chosen since (the service's own check, asked before the customer is even looked up).
    try:
        earlier = recorded_with(form.cleaned_data.get("idempotency_key"), kind=Transaction.Kind.PURCHASE)
    except ValidationError as error:
        add_service_errors(form, error)
    else:
        if earlier is not None:
            return _already_recorded(request, earlier)
    _renew_key_if_refused(form)

    # Leaving the amount blank (or pressing "Find customer") looks the customer up without recording.
    finding = request.POST.get("action") == "find" or not request.POST.get("amount", "").strip()
    if finding:
        form.errors.pop("amount", None)
    text = request.POST.get("customer", "").strip()
    customer, matches, enrol_form = None, [], None
    if pick := request.POST.get("pick"):
        customer = Customer.objects.filter(pk=_int(pick) or 0).first()
        if customer is None:
            form.add_error("customer", "That customer could not be found: type them again.")
        else:
            # Should the amount need correcting, the form resubmits the chosen customer, not the ambiguous text.
            form.data["customer"] = customer.member_number
    elif not text:
        form.add_error("customer", "Type a member number, phone, email or name.")
    else:
        found = find_customers(text, limit=MATCH_LIMIT + 1)
        if len(found) == 1:
            customer = found[0]
        else:
            # Nobody, or several: a choice in the main area (or the enrolment), not an error of the field.
            matches = found
            enrol_form = EnrolForm(prefix="enrol", initial=_enrol_guess(text))

    if customer and finding:
        return HttpResponseRedirect(
            _till_url(
                customer=customer.pk,
                amount=request.POST.get("amount", "").strip(),
                receipt_number=request.POST.get("receipt_number", "").strip(),
                **(
                    {"store": request.POST.get("store", ""), "occurred_at": request.POST.get("occurred_at", "")}
                    if manager
                    else {}
                ),
            )
        )
    repeat = None
    if customer and not form.errors:
        data = form.cleaned_data
        if not request.POST.get("confirm_repeat"):
            repeat = _repeat_of(customer, data["amount"])
            if repeat and repeat.earlier.idempotency_key == data["idempotency_key"]:
                # Not a second purchase: this very form, submitted twice at once, and the other one won.
                return _already_recorded(request, repeat.earlier)
        if repeat is None:
            return _record(request, form, customer=customer, store=store, manager=manager)

    if matches or repeat:
        focus = None
    elif enrol_form is not None:
        enrol_form.fields["name"].widget.attrs["autofocus"] = True
        focus = None
    else:
        focus = "customer"
    if focus:
        _focus(form, focus)
    carried = {name: request.POST.get(name, "") for name in CARRIED}
    return _till_page(
        request,
        form=form,
        store=store,
        manager=manager,
        customer=customer,
        matches=matches,
        searched=text,
        enrol_form=enrol_form,
        carried=carried,
        repeat=repeat,
    )


def _record(request: HttpRequest, form: PurchaseForm, *, customer: Customer, store, manager: bool) -> HttpResponse:
    """Record the valid purchase form for `customer`: redirect to its confirmation, or show the till again
    with the service's refusal beside its field (the customer chosen)."""
    data = form.cleaned_data
    record_store = data.get("store") or store
    try:
        result = record_purchase(
            customer=customer,
            store=record_store,
            amount=data["amount"],
            occurred_at=data.get("occurred_at"),
            receipt_number=data["receipt_number"],
            recorded_by=request.user,
            source=Transaction.Source.TILL,
            idempotency_key=data["idempotency_key"],
        )
    except ValidationError as error:
        add_service_errors(form, error)
        _renew_key_if_refused(form)
        _focus(form, "amount")
        return _till_page(request, form=form, store=store, manager=manager, customer=customer)
    if not result.created:
        return _already_recorded(request, result.transaction)
    if manager and record_store != store:
        remember_till_store(user=request.user, store=record_store)
    return HttpResponseRedirect(_till_url(recorded=result.transaction.pk))


def _already_recorded(request: HttpRequest, earlier: Transaction) -> HttpResponse:
    receipt = earlier.receipt_number
    messages.info(request, f"This purchase was already recorded (receipt {receipt}): not recorded again.")
    return HttpResponseRedirect(_till_url(recorded=earlier.pk))


@staff_only
@require_POST
def enrol(request: HttpRequest) -> HttpResponse:
    """Enrol a new member when the typed customer matches nobody (or not the right person) and, when an
    amount was typed, record that purchase for them in the same step."""
    if not request.user.has_perm("customers.add_customer"):
        raise PermissionDenied("Your account cannot enrol new members. Ask a manager.")
    manager = is_manager(request.user)
    store = selectors.till_store_for(request.user)
    carried = {name: request.POST.get(name, "") for name in CARRIED}
    # A resubmitted enrolment (a double click, the back button) whose purchase was recorded: that purchase
    # stands, and nobody is enrolled a second time.
    with contextlib.suppress(ValidationError, ValueError):
        key = uuid.UUID(carried["idempotency_key"]) if carried["idempotency_key"] else None
        if carried["amount"].strip() and (earlier := recorded_with(key, kind=Transaction.Kind.PURCHASE)):
            return _already_recorded(request, earlier)
    enrol_form = EnrolForm(request.POST, prefix="enrol")
    if enrol_form.is_valid():
        data = enrol_form.cleaned_data
        try:
            customer = enrol_customer(
                name=data["name"],
                member_number=data["member_number"] or None,
                email=data["email"],
                phone=data["phone"],
                home_store=store,
                enrolled_by=request.user,
            )
        except ValidationError as error:
            add_service_errors(enrol_form, error)
        except IntegrityError:
            enrol_form.add_error("member_number", f"Member number {data['member_number']} is already taken.")
        else:
            messages.success(request, f"Enrolled {customer.name} as member {customer.member_number}.")
            if carried["amount"].strip():
                return _record_for_new_member(request, customer, carried, store=store, manager=manager)
            return HttpResponseRedirect(
                _till_url(
                    customer=customer.pk,
                    receipt_number=carried["receipt_number"].strip(),
                    **({"store": carried["store"], "occurred_at": carried["occurred_at"]} if manager else {}),
                )
            )
    form = PurchaseForm(
        initial={**carried, "idempotency_key": carried["idempotency_key"] or uuid.uuid4()},
        manager=manager,
        stores=selectors.till_stores(),
    )
    for name in enrol_form.fields:
        if name in enrol_form.errors:
            enrol_form.fields[name].widget.attrs["autofocus"] = True
            break
    return _till_page(
        request,
        form=form,
        store=store,
        manager=manager,
        enrol_form=enrol_form,
        carried=carried,
        searched=carried["customer"],
    )


def _record_for_new_member(request: HttpRequest, customer: Customer, carried: dict, *, store, manager: bool):
    """The purchase typed before enrolling, recorded for the new member at once: the same form and checks as
    the till's Record (a bad amount is shown beside its field, with the new member chosen)."""
    data = {**carried, "customer": customer.member_number}
    if not data["idempotency_key"]:
        data["idempotency_key"] = str(uuid.uuid4())
    form = PurchaseForm(data, manager=manager, stores=selectors.till_stores())
    if form.is_valid():
        earlier = recorded_with(form.cleaned_data["idempotency_key"], kind=Transaction.Kind.PURCHASE)
        if earlier is not None:
            return _already_recorded(request, earlier)
        return _record(request, form, customer=customer, store=store, manager=manager)
    _renew_key_if_refused(form)
    _focus(form, "amount")
    return _till_page(request, form=form, store=store, manager=manager, customer=customer)


@staff_only
@require_GET
def transaction_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _transaction_page(request, pk, refund_form=None)


def _transaction_page(
    request: HttpRequest, pk: int, *, refund_form: RefundForm | None, confirm_full: dict | None = None
) -> HttpResponse:
    txn = selectors.transaction_for_page(pk)
    if txn is None:
        raise Http404("No such transaction.")
    is_purchase = txn.kind == Transaction.Kind.PURCHASE
    if refund_form is None and is_purchase and txn.refundable > 0:
        refund_form = RefundForm(initial={"idempotency_key": uuid.uuid4()})
    elif refund_form is not None and confirm_full is None:
        refund_form.fields["amount"].widget.attrs["autofocus"] = True
    context = {
        "txn": txn,
        "account": transaction_account(txn.pk),
        "refunds": selectors.refunds_of(txn) if is_purchase else [],
        "points": selectors.customer_points(txn.customer_id),
        "refund_form": refund_form,
        "confirm_full": confirm_full,
    }
    return render(request, "transactions/transaction.html", context)


@staff_only
@require_POST
def refund(request: HttpRequest, pk: int) -> HttpResponse:
    """Refund all or part of a purchase, from the till's recent transactions or the transaction's page.

    "Refund all" asks first (what it refunds and the points it takes back), then records on the confirmation.
    A refused refund from the till is shown on the till, beside that transaction's refund box.
    """
    purchase = get_object_or_404(Transaction.objects.select_related("customer"), pk=pk, kind=Transaction.Kind.PURCHASE)
    from_till = request.POST.get("next") == "till"
    form = RefundForm(request.POST.copy())
    if form.is_valid():
        data = form.cleaned_data
        full = data["full"]
        amount = purchase.refundable_amount if full else data["amount"]
        already = None
        with contextlib.suppress(ValidationError):  # a reused key: the service says so beside the form below
            already = recorded_with(data["idempotency_key"], kind=Transaction.Kind.REFUND, refund_of=purchase)
        try:
            if full and not data["confirmed"] and already is None and amount > 0:
                preview = selectors.points_a_refund_takes_back(purchase, amount)
                return _transaction_page(
                    request, purchase.pk, refund_form=form, confirm_full={"amount": amount, **preview}
                )
            result = record_refund(
                purchase=purchase,
                amount=amount,
                store=selectors.till_store_for(request.user),
                recorded_by=request.user,
                source=Transaction.Source.TILL,
                idempotency_key=data["idempotency_key"],
                reason=data["reason"],
            )
        except ValidationError as error:
            if full and amount == 0 and "idempotency_key" not in getattr(error, "error_dict", {}):
                form.add_error("amount", "Nothing is left to refund on this purchase.")
            else:
                add_service_errors(form, error)
        else:
            if not result.created:
                refunded = result.transaction
                messages.info(
                    request, f"This refund was already recorded ({money(refunded.amount)}): not recorded again."
                )
            return _after_refund(request, purchase, result.transaction, from_till)
    _renew_key_if_refused(form)
    if from_till:
        manager = is_manager(request.user)
        store = selectors.till_store_for(request.user)
        form.fields["amount"].widget.attrs["autofocus"] = True
        purchase_form = PurchaseForm(
            initial={"idempotency_key": uuid.uuid4(), "store": store, "customer": purchase.customer.member_number},
            manager=manager,
            stores=selectors.till_stores(),
        )
        return _till_page(
            request,
            form=purchase_form,
            store=store,
            manager=manager,
            customer=purchase.customer,
            refund_form=form,
            refund_of=purchase.pk,
        )
    return _transaction_page(request, purchase.pk, refund_form=form)


def _after_refund(
    request: HttpRequest, purchase: Transaction, refund_txn: Transaction, from_till: bool
) -> HttpResponse:
    if from_till:  # the till shows the refund's confirmation itself
        return HttpResponseRedirect(_till_url(refunded=refund_txn.pk))
    messages.success(request, f"Refunded {money(refund_txn.amount)} of receipt {purchase.receipt_number}.")
    return HttpResponseRedirect(reverse("transactions:transaction", args=[purchase.pk]) + f"?refunded={refund_txn.pk}")


@staff_only
@require_GET
def customer_suggestions(request: HttpRequest) -> JsonResponse:
    """Suggestions while typing in the Customer field (a nicety: the form resolves the text on submit)."""
    customers = find_customers(request.GET.get("q", "")[:200], limit=8)
    return JsonResponse(
        {
            "customers": [
                {
                    "member_number": c.member_number,
                    "label": " · ".join(filter(None, [c.name, display_phone(c.phone), c.email])),
                }
                for c in customers
            ]
        }
    )


@staff_only
@require_POST
def redeem_reward(request: HttpRequest) -> HttpResponse:
    """Redeem a reward for the customer chosen at the till; the till then shows the confirmation."""
    customer = get_object_or_404(Customer, pk=_int(request.POST.get("customer")) or 0)
    reward = get_object_or_404(Reward, pk=_int(request.POST.get("reward")) or 0)
    try:
        key = uuid.UUID(request.POST.get("idempotency_key", ""))
    except ValueError:
        key = None
    try:
        redemption = redeem(
            customer=customer,
            reward=reward,
            store=selectors.till_store_for(request.user),
            redeemed_by=request.user,
            idempotency_key=key,
        )
    except RedemptionRefused as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(_till_url(customer=customer.pk))
    return HttpResponseRedirect(_till_url(redeemed=redemption.pk))


@staff_only
@require_POST
def undo_redemption_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo a redemption: store staff the same day, a manager later."""
    redemption = get_object_or_404(Redemption.objects.select_related("reward", "customer"), pk=pk)
    try:
        undo_redemption(redemption=redemption, undone_by=request.user)
    except UndoRefused as error:
        raise PermissionDenied(str(error)) from None
    messages.success(
        request, f"Undid {redemption.reward.name}: {redemption.points:,} points back to {redemption.customer.name}."
    )
    return HttpResponseRedirect(_till_url(customer=redemption.customer_id))
