from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

import audit
from loyalty_site.access import is_manager, is_store_staff, managers_only, staff_only
from ops.replica import reads_from_replica
from rewards.models import AdjustmentRequest, PointsEntry
from rewards.selectors import customer_balance, customer_tier_status, default_program, rule_version_at
from rewards.services.adjustments import (
    AdjustmentRefused,
    decide_adjustment,
    deduction_warning,
    request_adjustment,
    withdraw_adjustment,
)
from rewards.services.bonuses import BonusRefused, award_bonus
from transactions.forms import add_service_errors

from .filters import CustomerListFilter
from .forms import AdjustPointsForm, AwardBonusForm, ContactForm
from .models import Customer
from .phones import display_phone
from .selectors import customer_list, find_customers
from .services import correct_contact
from .tables import CustomerListTable

EXPORT_FORMATS = (TableExport.CSV, TableExport.XLSX)


def home(request: HttpRequest) -> HttpResponse:
    # Store staff spend the day at the till: they land there after signing in. Managers keep the start page.
    if is_store_staff(request.user) and not is_manager(request.user):
        return redirect("transactions:till")
    return render(request, "home.html")


@permission_required("customers.view_customer", raise_exception=True)
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    return render(request, "customers/search.html", {"query": query, "customers": find_customers(query)})


def _customer_page(
    request: HttpRequest,
    customer: Customer,
    form: AwardBonusForm | None = None,
    status: int = 200,
    adjust_form: AdjustPointsForm | None = None,
    warning: str | None = None,
):
    try:
        bonuses = rule_version_at(timezone.now()).engine_rule().bonuses
    except LookupError:
        bonuses = None
    entries = (
        PointsEntry.objects.filter(customer=customer)
        .select_related("transaction", "rule_version", "created_by")
        .order_by("-effective_at", "-id")[:20]
    )
    return render(
        request,
        "customers/customer.html",
        {
            "customer": customer,
            "balance": customer_balance(customer.pk),
            "tier": customer_tier_status(customer.pk),
            "entries": entries,
            "deduction_warning": warning,
            "bonuses": bonuses,
            "form": form or AwardBonusForm(customer=customer),
            "manager": is_manager(request.user),
            "adjust_form": adjust_form or AdjustPointsForm(),
            "approval_threshold": default_program().adjustment_approval_threshold,
            "pending": AdjustmentRequest.objects.filter(
                customer=customer, status=AdjustmentRequest.Status.PENDING
            ).select_related("requested_by"),
            "awarded": set(
                PointsEntry.objects.filter(customer=customer, kind=PointsEntry.Kind.BONUS)
                .exclude(bonus_key="")
                .values_list("bonus_key", flat=True)
            ),
        },
        status=status,
    )


@staff_only
def customer_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A member for store staff: who they are, their balance and latest ledger lines, and bonus awards."""
    customer = get_object_or_404(Customer.objects.select_related("home_store", "referred_by"), pk=pk)
    return _customer_page(request, customer)


@staff_only
@require_POST
def award(request: HttpRequest, pk: int) -> HttpResponse:
    """Award a bonus action the program defines; each can be given only once (per year for birthdays)."""
    customer = get_object_or_404(Customer.objects.select_related("home_store", "referred_by"), pk=pk)
    form = AwardBonusForm(request.POST, customer=customer)
    if not form.is_valid():
        return _customer_page(request, customer, form, status=400)
    try:
        entry = award_bonus(
            customer=customer,
            action=form.cleaned_data["action"],
            awarded_by=request.user,
            referred=form.cleaned_data["referred"],
        )
    except BonusRefused as refusal:
        form.add_error("action", str(refusal))
        return _customer_page(request, customer, form, status=400)
    messages.success(request, f"Awarded {entry.points} points: {entry.reason}.")
    return redirect("customers:customer", pk=customer.pk)


@managers_only
@require_POST
def adjust(request: HttpRequest, pk: int) -> HttpResponse:
    """A manager adds or deducts points with a reason; above the program's threshold a second manager approves."""
    customer = get_object_or_404(Customer.objects.select_related("home_store", "referred_by"), pk=pk)
    form = AdjustPointsForm(request.POST)
    if form.is_valid():
        points = form.cleaned_data["points"]
        # More than the balance: say what follows and ask once more (the confirmation's button carries `confirmed`).
        if not request.POST.get("confirmed") and (warning := deduction_warning(customer=customer, points=points)):
            return _customer_page(request, customer, adjust_form=form, warning=warning)
        try:
            adjustment = request_adjustment(
                customer=customer,
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
                requested_by=request.user,
            )
        except AdjustmentRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            if adjustment.status == AdjustmentRequest.Status.POSTED:
                messages.success(request, f"Adjusted {adjustment.points:+,d} points: {adjustment.reason}.")
            else:
                messages.info(
                    request,
                    f"{adjustment.points:+,d} points wait for a second manager's approval (over the threshold).",
                )
            return redirect("customers:customer", pk=customer.pk)
    return _customer_page(request, customer, status=400, adjust_form=form)


@managers_only
def adjustment_requests(request: HttpRequest) -> HttpResponse:
    """The adjustments waiting for a second manager, oldest first (adjustmentrequest_pending_idx)."""
    pending = AdjustmentRequest.objects.filter(status=AdjustmentRequest.Status.PENDING).select_related(
        "customer", "requested_by"
    )
    return render(request, "customers/adjustments.html", {"pending": pending.order_by("requested_at", "id")})


@managers_only
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    adjustment = get_object_or_404(AdjustmentRequest.objects.select_related("customer", "requested_by"), pk=pk)
    approve = request.POST.get("decision") == "approve"
    try:
        decide_adjustment(request=adjustment, decided_by=request.user, approve=approve)
    except AdjustmentRefused as refusal:
        messages.error(request, str(refusal))
    else:
        verb = "Approved and posted" if approve else "Rejected"
        messages.success(request, f"{verb} {adjustment.points:+,d} points for {adjustment.customer.name}.")
    return redirect("customers:adjustments")


@managers_only
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """The manager who asked for an adjustment withdraws it while it waits for approval."""
    adjustment = get_object_or_404(AdjustmentRequest.objects.select_related("customer", "requested_by"), pk=pk)
    try:
        withdraw_adjustment(request=adjustment, withdrawn_by=request.user)
    except AdjustmentRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Withdrew {adjustment.points:+,d} points for {adjustment.customer.name}.")
    if request.POST.get("next") == "customer":
        return redirect("customers:customer", pk=adjustment.customer_id)
    return redirect("customers:adjustments")


@staff_only
def contact(request: HttpRequest, pk: int) -> HttpResponse:
    """Staff correct a member's name, phone or email from the till (recorded in the audit trail), then go
    back where they came from: the till with the member chosen, or the member's page."""
    customer = get_object_or_404(Customer, pk=pk)
    back_to_till = request.GET.get("next", request.POST.get("next")) == "till"
    back = reverse("transactions:till") + f"?customer={customer.pk}" if back_to_till else None
    back = back or reverse("customers:customer", args=[customer.pk])
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            try:
                changes = correct_contact(customer=customer, changed_by=request.user, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if changes:
                    messages.success(request, f"Saved {customer.name}'s contact details.")
                else:
                    messages.info(request, "Nothing changed.")
                return redirect(back)
    else:
        form = ContactForm(
            initial={"name": customer.name, "phone": display_phone(customer.phone), "email": customer.email}
        )
    return render(
        request,
        "customers/contact.html",
        {"customer": customer, "form": form, "back": back, "next": "till" if back_to_till else ""},
    )


@managers_only
@reads_from_replica
def customers_list(request: HttpRequest) -> HttpResponse:
    """Every member with their balance, tier, last visit, and the last 12 months' spend and points: sorted,
    filtered and paged in the database; downloadable as CSV or XLSX."""
    filters = CustomerListFilter(request.GET, queryset=customer_list())
    if not filters.is_valid():
        return render(request, "customers/list.html", {"filters": filters}, status=400)
    rows = filters.qs.order_by("member_number")
    export_format = request.GET.get("_export")
    if export_format in EXPORT_FORMATS:
        table = CustomerListTable(rows)
        RequestConfig(request, paginate=False).configure(table)
        filename = f"customers-{timezone.localdate():%Y-%m-%d}.{export_format}"
        audit.record(
            audit.Event.EXPORT,
            request=request,
            detail={"report": "customers", "file": filename, "filters": _query_without(request, "_export", "page")},
        )
        return TableExport(export_format, table, dataset_kwargs={"title": "Customers"}).response(filename=filename)
    table = CustomerListTable(rows)
    RequestConfig(request, paginate={"per_page": table._meta.per_page}).configure(table)
    return render(
        request,
        "customers/list.html",
        {
            "filters": filters,
            "table": table,
            "csv_query": _query_without(request, "page", _export="csv"),
            "xlsx_query": _query_without(request, "page", _export="xlsx"),
        },
    )


def _query_without(request: HttpRequest, *names: str, **changes: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()
