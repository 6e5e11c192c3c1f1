"""The webhook pages (managers): endpoints, their delivery log, a delivery's attempts, redelivery.

Thin: forms parse, webhooks.services decides and writes. A signing secret appears in the answer to the
POST that made it, and nowhere else, ever.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from events.models import EventType
from loyalty_site.access import managers_only

from . import selectors, services
from .forms import EndpointForm
from .models import Delivery, DeliveryAttempt, Endpoint

DELIVERIES_PER_PAGE = 25


def _apply_errors(form: EndpointForm, error: ValidationError) -> None:
    for field, messages_ in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages_)


def _secret_page(request: HttpRequest, endpoint: Endpoint, secret: str, *, new: bool) -> HttpResponse:
    response = render(request, "webhooks/secret.html", {"endpoint": endpoint, "secret": secret, "new": new})
    response["Cache-Control"] = "no-store"
    return response


@managers_only
def endpoints(request: HttpRequest) -> HttpResponse:
    form = (
        EndpointForm(request.POST)
        if request.method == "POST"
        else EndpointForm(initial={"event_types": EventType.values})
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                # The form's fields are the service's arguments: url, event_types, description.
                endpoint, secret = services.register_endpoint(**form.cleaned_data, created_by=request.user)
            except ValidationError as error:
                _apply_errors(form, error)
            else:
                return _secret_page(request, endpoint, secret, new=True)
        status = 400
    context = {
        "form": form,
        "endpoints": selectors.endpoints_with_log_summary(),
        "retry_hours": settings.LOYALTY_WEBHOOK_RETRY_HOURS,
    }
    return render(request, "webhooks/endpoints.html", context, status=status)


@managers_only
def endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint.objects.select_related("created_by"), pk=pk)
    status = request.GET.get("status", "")
    if status not in Delivery.Status.values:
        status = ""
    deliveries = selectors.delivery_log(endpoint, status=status).prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("-attempted_at", "-id"))
    )
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"endpoint": endpoint, "page": page, "status": status, "statuses": Delivery.Status.choices}
    return render(request, "webhooks/endpoint.html", context)


@managers_only
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    initial = {"url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types}
    form = EndpointForm(request.POST) if request.method == "POST" else EndpointForm(initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.change_endpoint(endpoint=endpoint, **form.cleaned_data, changed_by=request.user)
            except ValidationError as error:
                _apply_errors(form, error)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("webhooks:endpoint", pk=endpoint.pk)
        status = 400
    return render(request, "webhooks/edit.html", {"endpoint": endpoint, "form": form}, status=status)


@managers_only
@require_POST
def set_enabled(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    services.set_endpoint_enabled(endpoint=endpoint, enabled=enabled, changed_by=request.user)
    messages.success(
        request,
        "Endpoint enabled: events are sent to it again."
        if enabled
        else "Endpoint disabled: nothing is sent to it until it is enabled again.",
    )
    return redirect("webhooks:endpoint", pk=endpoint.pk)


@managers_only
@require_POST
def replace_secret(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    secret = services.replace_secret(endpoint=endpoint, changed_by=request.user)
    return _secret_page(request, endpoint, secret, new=False)


@managers_only
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    if request.method == "POST":
        services.delete_endpoint(endpoint=endpoint, deleted_by=request.user)
        messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log.")
        return redirect("webhooks:endpoints")
    return render(request, "webhooks/delete.html", {"endpoint": endpoint, "deliveries": endpoint.deliveries.count()})


@managers_only
def delivery(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("endpoint", "event"), pk=pk)
    context = {
        "delivery": delivery,
        "attempts": delivery.attempt_log.order_by("-attempted_at", "-id"),
        # Indented to be read; it is sent as compact JSON (services.message_body), which is what is signed.
        "body": json.dumps(delivery.event.as_message(), indent=2, ensure_ascii=False),
    }
    return render(request, "webhooks/delivery.html", context)


@managers_only
@require_POST
def redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("endpoint", "event"), pk=pk)
    try:
        services.redeliver(delivery=delivery, requested_by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Event {delivery.event.wire_id} is being sent again.")
    if request.POST.get("back") == "delivery":
        return redirect("webhooks:delivery", pk=delivery.pk)
    return redirect("webhooks:endpoint", pk=delivery.endpoint_id)
