from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from loyalty_site.access import is_manager, is_store_staff, managers_only, staff_only
from rewards.models import AdjustmentRequest, PointsEntry
from rewards.selectors import customer_balance, default_program, rule_version_at
from rewards.services.adjustments import AdjustmentRefused, decide_adjustment, request_adjustment
from rewards.services.bonuses import BonusRefused, award_bonus

from .forms import AdjustPointsForm, AwardBonusForm
from .models import Customer
from .selectors import find_customers


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
            "entries": entries,
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
                messages.success(request, f"Adjusted {adjustment.points:+d} points: {adjustment.reason}.")
            else:
                messages.info(
                    request, f"{adjustment.points:+d} points wait for a second manager's approval (over the threshold)."
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
        messages.success(request, f"{verb} {adjustment.points:+d} points for {adjustment.customer.name}.")
    return redirect("customers:adjustments")
