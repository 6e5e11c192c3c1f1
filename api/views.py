"""The JSON API, /api/v1/. Thin, like the pages: read the request with a serializer, call the same services and
selectors as the till and the reports, answer. Every error is problem+json (api.problems)."""

from __future__ import annotations

import datetime as dt
import io
import math

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import defaults
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

import audit
from customers.models import Customer
from customers.selectors import find_customers, with_member_number
from customers.services import enrol_customer
from ops.replica import reads_from_replica
from rewards.calendar import add_months
from rewards.local_time import current_month
from rewards.management.commands.points_report import write_csv
from rewards.models import Reward
from rewards.selectors import (
    SPENT_KEYS,
    affordable_rewards,
    carried_lines,
    customer_ledger,
    customer_tier_status,
    monthly_points,
    points_expiring_soon,
    transaction_account,
)
from rewards.services.redemption import RedemptionRefused, redeem
from transactions.models import Store, Transaction
from transactions.selectors import customer_points
from transactions.services import record_purchase, record_refund

from . import serializers as s
from .authentication import BearerKeyAuthentication
from .idempotency import REPLAYED, idempotent
from .models import ApiKey
from .permissions import HasApiKey, HasManagerKey, api_key_of
from .problems import PROBLEM_TYPES, InvalidParameters, problem_response, service_refusal
from .throttling import ApiKeyRateThrottle

BACKDATING = (
    "Store staff's keys record transactions as they happen, as the till does: back-dating (occurred_at "
    "earlier than now) needs a manager's key."
)
# A service names the fields it refuses as the till's forms do; the API names them as the client sent them.
SERVICE_FIELDS = {"refund_of": "purchase", "idempotency_key": "non_field_errors"}


class CsvRenderer(BaseRenderer):
    """Lets `Accept: text/csv` choose the CSV of a report (the view writes the CSV itself)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str | bytes) else ""


class ApiView(APIView):
    """Every resource: a Bearer key, the key's rate, JSON in and out, and each call in the audit trail."""

    authentication_classes = [BearerKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    renderer_classes = [JSONRenderer]

    @property
    def api_key(self) -> ApiKey:
        return api_key_of(self.request)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        api_key = api_key_of(request)
        # Every call a key makes is in the audit trail, attributed to the key's account; not those refused for
        # exceeding the rate (a runaway client would fill the trail with them).
        if api_key is not None and response.status_code != status.HTTP_429_TOO_MANY_REQUESTS:
            detail = {
                "key": api_key.name,
                "prefix": api_key.prefix,
                "method": request.method,
                "path": request.get_full_path()[:500],
                "status": response.status_code,
            }
            if response.get(REPLAYED):
                detail["replayed"] = True
            audit.record(audit.Event.API_CALL, actor=api_key.user, request=request._request, detail=detail)
        return response

    # -- reading the request ----------------------------------------------------------------------------

    # The query parameters a view's GET takes (a serializer), or None for none at all.
    query_serializer = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method.lower() not in self.http_method_names or not hasattr(self, request.method.lower()):
            return  # answered 405 next
        self.params = self.query(self.query_serializer if request.method in ("GET", "HEAD") else None)

    def query(self, serializer_class) -> dict:
        """The query parameters, validated. One the resource does not take is refused: a misspelt filter
        (`?qq=Ann`) must not silently answer everything."""
        known = set(serializer_class().fields) if serializer_class else set()
        unknown = sorted(set(self.request.query_params) - known)
        if unknown:
            takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
            raise InvalidParameters(
                {name[:50]: [f"This resource has no parameter {name[:50]!r}: {takes}."] for name in unknown}
            )
        if serializer_class is None:
            return {}
        empty = sorted(name for name, value in self.request.query_params.items() if value == "")
        if empty:
            raise InvalidParameters({name: ["Give a value, or leave the parameter out."] for name in empty})
        serializer = serializer_class(data=self.request.query_params)
        if not serializer.is_valid():
            raise InvalidParameters(serializer.errors)
        return serializer.validated_data

    def body(self, serializer_class) -> dict:
        if not isinstance(self.request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def customer_named(self, member_number: str, *, field: str) -> Customer:
        customer = Customer.objects.select_related("home_store").filter(member_number=member_number).first()
        if customer is None:
            raise exceptions.ValidationError({field: [f"No customer has the member number {member_number}."]})
        return customer

    def store_named(self, code: str | None, *, field: str = "store") -> Store:
        """Where the key records: its own store when bound to one (naming another is refused, 403); otherwise
        the store named, or the default store."""
        api_key = self.api_key
        if api_key.store_id is not None:
            if code and code != api_key.store.code:
                raise exceptions.PermissionDenied(f"This key records at store {api_key.store.code} only.")
            if not api_key.store.is_active:
                raise exceptions.PermissionDenied(f"This key's store {api_key.store.code} is closed.")
            return api_key.store
        if not code:
            return Store.objects.get(is_default=True)
        store = Store.objects.filter(code=code, is_active=True).first()
        if store is None:
            raise exceptions.ValidationError({field: [f"No open store has the code {code}."]})
        return store

    def moment(self, occurred_at: dt.datetime | None) -> dt.datetime | None:
        """A moment a key may record at: store staff's keys, like store staff at the till, only now."""
        if occurred_at is None or self.api_key.is_manager:
            return occurred_at
        if occurred_at < timezone.now() - dt.timedelta(seconds=settings.LOYALTY_CLOCK_SKEW_SECONDS):
            raise exceptions.PermissionDenied(BACKDATING)
        return occurred_at

    def page_of(self, rows, *, count: int | None = None) -> tuple[list, dict]:
        """One page of `rows` (a queryset) and its count, next and previous links; a page past the last: 404."""
        page, size = self.params["page"], self.params["page_size"]
        count = rows.count() if count is None else count
        last = max(1, math.ceil(count / size))
        if page > last:
            raise exceptions.NotFound(f"There is no page {page}: the last page is {last}.")
        url = self.request.build_absolute_uri()
        links = {
            "count": count,
            "next": replace_query_param(url, "page", page + 1) if page < last else None,
            "previous": (
                None
                if page == 1
                else replace_query_param(url, "page", page - 1)
                if page > 2
                else remove_query_param(url, "page")
            ),
        }
        offset = (page - 1) * size
        return list(rows[offset : offset + size]), links


def _recorded(recorded: Transaction, customer: Customer) -> dict:
    """What a purchase or refund answers: the transaction, its points and how they were made, the balance."""
    account = transaction_account(recorded.pk)
    points = customer_points(customer.pk)
    return {
        "transaction": recorded,
        "customer": customer,
        "points": account.points if account else 0,
        "lines": [{"label": line.label, "points": line.points} for line in account.lines] if account else [],
        "balance": points.balance,
        "points_this_month": points.this_month,
    }


# ---------------------------------------------------------------------------------------------------
# Customers.


class CustomersView(ApiView):
    query_serializer = s.CustomerSearchQuerySerializer

    @extend_schema(
        operation_id="customers_search",
        summary="Find customers",
        description="By member number, phone, email or part of a name, as at the till: an exact member number, "
        "phone or email wins outright; otherwise up to 20 matches by name and partial number.",
        parameters=[s.CustomerSearchQuerySerializer],
        responses={200: s.CustomerSearchSerializer},
        tags=["customers"],
    )
    def get(self, request):
        found = find_customers(self.params["q"], limit=21)
        return Response(s.CustomerSearchSerializer({"results": found[:20], "more_matches": len(found) > 20}).data)

    @extend_schema(
        operation_id="customers_enrol",
        summary="Enrol a customer",
        description="Enrols a new member (and awards the program's enrolment bonus, as at the till). A member "
        "number is generated when none is given.",
        request=s.EnrolSerializer,
        responses={201: s.CustomerDetailSerializer},
        tags=["customers"],
    )
    def post(self, request):
        return idempotent(request, self._enrol)

    def _enrol(self) -> Response:
        data = self.body(s.EnrolSerializer)
        referrer = self.customer_named(data["referred_by"], field="referred_by") if "referred_by" in data else None
        home_store = self.store_named(data.get("store")) if data.get("store") or self.api_key.store_id else None
        number = data.get("member_number")
        if number and with_member_number(number).exists():
            raise exceptions.ValidationError({"member_number": [f"Member number {number} is already taken."]})
        try:
            customer = enrol_customer(
                name=data["name"],
                member_number=number,
                email=data["email"],
                phone=data["phone"],
                birthday=data["birthday"],
                home_store=home_store,
                referred_by=referrer,
                enrolled_by=self.api_key.user,
            )
        except DjangoValidationError as error:
            raise service_refusal(error) from None
        except IntegrityError:  # the same number enrolled at the same moment by another request
            raise exceptions.ValidationError({"member_number": [f"Member number {number} is already taken."]}) from None
        return Response(_customer_detail(customer), status=status.HTTP_201_CREATED)


def _customer_detail(customer: Customer) -> dict:
    points = customer_points(customer.pk)
    expiring = points_expiring_soon(customer.pk, days=30)
    tier = customer_tier_status(customer.pk)
    return s.CustomerDetailSerializer(
        {
            **{field: getattr(customer, field) for field in ("member_number", "name", "email", "phone", "birthday")},
            "date_joined": customer.date_joined,
            "home_store": customer.home_store,
            "balance": points.balance,
            "points_this_month": points.this_month,
            "expiring_soon": {"points": expiring.points, "first_due": expiring.first_due},
            "tier": None
            if tier is None
            else {
                "name": tier.tier.name if tier.tier else None,
                "since": tier.since,
                "points_in_window": tier.earned,
                "window": tier.window,
                "next_tier": tier.next_tier.name if tier.next_tier else None,
                "points_to_next": tier.to_next,
            },
        }
    ).data


class CustomerView(ApiView):
    @extend_schema(
        operation_id="customers_read",
        summary="A customer's balance, tier and this month's points",
        responses={200: s.CustomerDetailSerializer},
        tags=["customers"],
    )
    def get(self, request, member_number: str):
        customer = Customer.objects.select_related("home_store").filter(member_number=member_number).first()
        if customer is None:
            raise exceptions.NotFound(f"No customer has the member number {member_number}.")
        return Response(_customer_detail(customer))


class CustomerLedgerView(ApiView):
    query_serializer = s.PageQuerySerializer

    @extend_schema(
        operation_id="customers_ledger",
        summary="A customer's points ledger",
        description="Every ledger entry, newest first, with how its points were made; and a carried line per "
        "archived month (`archived_months`), whose entries left the ledger: the entries and those lines add up to "
        "the customer's balance.",
        parameters=[s.PageQuerySerializer],
        responses={200: s.LedgerPageSerializer},
        tags=["customers"],
    )
    def get(self, request, member_number: str):
        customer = Customer.objects.filter(member_number=member_number).values_list("pk", flat=True).first()
        if customer is None:
            raise exceptions.NotFound(f"No customer has the member number {member_number}.")
        entries, links = self.page_of(customer_ledger(customer))
        page = {**links, "results": entries, "archived_months": carried_lines(customer)}
        return Response(s.LedgerPageSerializer(page).data)


# ---------------------------------------------------------------------------------------------------
# Purchases, refunds, rewards and redemptions.


class PurchasesView(ApiView):
    @extend_schema(
        operation_id="purchases_record",
        summary="Record a purchase",
        description="Records a purchase through the till's own service: it earns by the rule in force at its "
        "moment. Answers the transaction, the points, each line of how they were made, and the new balance.",
        request=s.PurchaseSerializer,
        responses={201: s.PurchaseRecordedSerializer},
        tags=["transactions"],
    )
    def post(self, request):
        return idempotent(request, self._record)

    def _record(self) -> Response:
        data = self.body(s.PurchaseSerializer)
        customer = self.customer_named(data["customer"], field="customer")
        store = self.store_named(data.get("store"))
        try:
            recorded = record_purchase(
                customer=customer,
                store=store,
                amount=data["amount"],
                occurred_at=self.moment(data.get("occurred_at")),
                receipt_number=data["receipt_number"],
                recorded_by=self.api_key.user,
                source=Transaction.Source.API,
            )
        except DjangoValidationError as error:
            raise service_refusal(error, SERVICE_FIELDS) from None
        answer = _recorded(recorded.transaction, customer)
        return Response(s.PurchaseRecordedSerializer(answer).data, status=status.HTTP_201_CREATED)


class RefundsView(ApiView):
    @extend_schema(
        operation_id="refunds_record",
        summary="Refund all or part of a purchase",
        description="Reverses the points the refunded part earned, under the rule version the purchase earned "
        "with. The purchase is named by its id, or by its receipt number and store.",
        request=s.RefundSerializer,
        responses={201: s.RefundRecordedSerializer},
        tags=["transactions"],
    )
    def post(self, request):
        return idempotent(request, self._refund)

    def _refund(self) -> Response:
        data = self.body(s.RefundSerializer)
        purchase = self._purchase(data["purchase"])
        # A bound key records the refund at its store (any store's purchase, as at the till); others at the
        # purchase's store.
        store = self.store_named(None) if self.api_key.store_id is not None else None
        try:
            recorded = record_refund(
                purchase=purchase,
                amount=data["amount"],
                occurred_at=self.moment(data.get("occurred_at")),
                store=store,
                receipt_number=data["receipt_number"],
                recorded_by=self.api_key.user,
                source=Transaction.Source.API,
            )
        except DjangoValidationError as error:
            raise service_refusal(error, SERVICE_FIELDS) from None
        purchase.refresh_from_db(fields=["refunded_amount"])
        answer = {**_recorded(recorded.transaction, purchase.customer), "purchase": purchase}
        return Response(s.RefundRecordedSerializer(answer).data, status=status.HTTP_201_CREATED)

    def _purchase(self, named: dict) -> Transaction:
        purchases = Transaction.objects.filter(kind=Transaction.Kind.PURCHASE).select_related("customer", "store")
        if "id" in named:
            purchase = purchases.filter(pk=named["id"]).first()
            missing = f"No purchase has the id {named['id']}."
        else:
            code = named.get("store") or (self.api_key.store.code if self.api_key.store_id else "")
            if not code:
                raise exceptions.ValidationError({"purchase": {"store": ["Name the store of the receipt."]}})
            purchase = purchases.filter(receipt_number=named["receipt_number"], store__code=code).first()
            missing = f"No purchase has the receipt number {named['receipt_number']} at store {code}."
        if purchase is None:
            raise exceptions.ValidationError({"purchase": [missing]})
        return purchase


class RewardsView(ApiView):
    query_serializer = s.RewardsQuerySerializer

    @extend_schema(
        operation_id="rewards_list",
        summary="The rewards catalog",
        description="The rewards available today; with `customer`, only those the customer can redeem now.",
        parameters=[s.RewardsQuerySerializer],
        responses={200: s.RewardsPageSerializer},
        tags=["rewards"],
    )
    def get(self, request):
        query = self.params
        if "customer" in query:
            customer = Customer.objects.filter(member_number=query["customer"]).first()
            if customer is None:
                raise InvalidParameters({"customer": [f"No customer has the member number {query['customer']}."]})
            tier = customer_tier_status(customer.pk)
            rewards = affordable_rewards(
                customer.pk,
                balance=customer_points(customer.pk).balance,
                tier_rank=tier.tier.rank if tier and tier.tier else None,
            )
        else:
            today = timezone.localdate()
            rewards = (
                Reward.objects.filter(program__is_default=True)
                .exclude(active_from__gt=today)
                .exclude(active_until__lt=today)
                .order_by("points_cost", "name")
            )
        rows, links = self.page_of(rewards.select_related("min_tier"))
        return Response(s.RewardsPageSerializer({**links, "results": [_reward(reward) for reward in rows]}).data)


REWARD_FIELDS = ("id", "name", "points_cost", "benefit", "amount_off", "description", "active_from", "active_until")


def _reward(reward: Reward) -> dict:
    return {
        **{field: getattr(reward, field) for field in REWARD_FIELDS},
        "stock": reward.stock,
        "per_customer_limit": reward.per_customer_limit,
        "min_tier": reward.min_tier,
        "gives": reward.gives(),
    }


class RedemptionsView(ApiView):
    @extend_schema(
        operation_id="redemptions_record",
        summary="Redeem a reward",
        description="Spends the reward's points, as at the till: refused when the balance is short, the reward "
        "is out of stock, over the customer's limit, not active today or above the customer's tier.",
        request=s.RedemptionSerializer,
        responses={201: s.RedemptionRecordedSerializer},
        tags=["rewards"],
    )
    def post(self, request):
        return idempotent(request, self._redeem)

    def _redeem(self) -> Response:
        data = self.body(s.RedemptionSerializer)
        customer = self.customer_named(data["customer"], field="customer")
        reward = Reward.objects.filter(pk=data["reward"], program__is_default=True).first()
        if reward is None:
            raise exceptions.ValidationError({"reward": [f"No reward has the id {data['reward']}."]})
        store = self.store_named(data.get("store"))
        try:
            redemption = redeem(customer=customer, reward=reward, store=store, redeemed_by=self.api_key.user)
        except RedemptionRefused as refusal:
            raise exceptions.ValidationError({"reward": [str(refusal)]}) from None
        answer = {
            "redemption": redemption,
            "customer": customer,
            "balance": customer_points(customer.pk).balance,
        }
        return Response(s.RedemptionRecordedSerializer(answer).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------------------------------------------
# The monthly points report.


# A report: its reads may come from the read replica (ops.replica), seconds behind at worst.
@method_decorator(reads_from_replica, name="get")
class PointsReportView(ApiView):
    permission_classes = [HasManagerKey]
    query_serializer = s.PointsReportQuerySerializer
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="reports_points",
        summary="Monthly points per customer",
        description="The managers' monthly points report (the same selector as the page and `manage.py "
        "points_report`): per customer, the points purchases earned in each calendar month of the period, less "
        "refunds, and in total; with the period's redeemed, expired and adjusted points. Sorted by member "
        "number. `Accept: text/csv` answers the whole filtered result as CSV (the command's columns).",
        parameters=[s.PointsReportQuerySerializer],
        responses={
            (200, "application/json"): s.PointsReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="customer_id,customer_name,months,total"),
        },
        tags=["reports"],
    )
    def get(self, request):
        query = self.params
        start = query.get("start") or add_months(current_month(), -3)
        months = query["months"]
        store = None
        if code := query.get("store"):
            store = Store.objects.filter(code=code).first()
            if store is None:
                raise InvalidParameters({"store": [f"No store has the code {code}."]})
        report = monthly_points(
            start=start,
            months=months,
            store_id=store.pk if store else None,
            search=(query.get("q") or "").strip() or None,
            min_total=query.get("min_total"),
        )
        if request.accepted_renderer.format == "csv":
            return self._csv(report, start, months)
        count, totals = report.count_and_totals()
        rows, links = self.page_of(report.rows, count=count)
        labels = [(column.key, column.label) for column in report.months]
        return Response(
            s.PointsReportSerializer(
                {
                    **links,
                    "start": f"{start:%Y-%m}",
                    "months": [label for _, label in labels],
                    "totals": _report_row(totals, labels),
                    "results": [_report_row(row, labels) for row in rows],
                }
            ).data
        )

    def _csv(self, report, start: dt.date, months: int) -> HttpResponse:
        stream = io.StringIO()
        write_csv(report, stream)
        filename = f"monthly-points-{start:%Y-%m}-{months}m.csv"
        audit.record(
            audit.Event.EXPORT,
            actor=self.api_key.user,
            request=self.request._request,
            detail={"report": "monthly points", "file": filename, "filters": self.request.GET.urlencode()},
        )
        return HttpResponse(
            stream.getvalue(),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def _report_row(row: dict, labels: list[tuple[str, str]]) -> dict:
    return {
        "member_number": row.get("member_number", ""),
        "name": row.get("name", ""),
        "by_month": [{"month": label, "points": row[key]} for key, label in labels],
        "total": row["total"],
        **{key: row[key] for key in SPENT_KEYS},
    }


# ---------------------------------------------------------------------------------------------------
# Outside the resources: problem types' pages, and problem+json for paths that match nothing.


@login_not_required
def problem_type(request: HttpRequest, slug: str) -> HttpResponse:
    problem = PROBLEM_TYPES.get(slug)
    if problem is None:
        raise Http404("No such problem type.")
    return render(request, "api/problem_type.html", {"problem": problem, "types": PROBLEM_TYPES.values()})


@login_not_required
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    return problem_response(request, "not-found", "Nothing answers at this path: see /api/v1/docs/.")


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: problem+json under /api/, the site's page elsewhere."""
    if request.path.startswith("/api/"):
        return problem_response(request, "server-error", PROBLEM_TYPES["server-error"].meaning)
    return defaults.server_error(request)
