"""The API keys page (owners and managers) and the API's readable documentation. Thin: forms parse,
api.keys decides and writes."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from drf_spectacular.views import SpectacularAPIView
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation

from accounts import two_factor
from loyalty_site.access import is_manager, managers_only
from transactions.forms import add_service_errors

from .authentication import BearerKeyAuthentication
from .forms import NewKeyForm
from .keys import create_api_key, revoke_api_key
from .models import ApiKey
from .permissions import NO_KEY, api_key_of
from .throttling import ApiKeyRateThrottle


def _keys_page(request: HttpRequest, form: NewKeyForm, *, created=None, secret: str = "", status: int = 200):
    keys = ApiKey.objects.select_related("store", "created_by", "revoked_by").order_by("revoked_at", "-created_at")
    context = {"form": form, "keys": keys, "created": created, "secret": secret}
    return render(request, "api/keys.html", context, status=status)


@never_cache
@managers_only
def keys(request: HttpRequest) -> HttpResponse:
    """Owners and managers create, name and revoke keys. A new key is shown once, in the answer to the form
    that created it (never stored, never cached): only its prefix and a hash of its secret are kept."""
    if request.method != "POST":
        return _keys_page(request, NewKeyForm(initial={"form_key": uuid.uuid4()}))
    form = NewKeyForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        earlier = ApiKey.objects.filter(form_key=data["form_key"]).first()
        if earlier is not None:
            messages.info(
                request,
                f"This form already created the key {earlier.name} (lk_{earlier.prefix}_…), and its key was shown "
                "then, once. If it was not copied, revoke it and create another.",
            )
            return redirect("api_keys:list")
        try:
            new = create_api_key(
                name=data["name"],
                role=data["role"],
                store=data["store"],
                created_by=request.user,
                request=request,
                form_key=data["form_key"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _keys_page(
                request, NewKeyForm(initial={"form_key": uuid.uuid4()}), created=new.api_key, secret=new.secret
            )
    if "form_key" in form.errors:
        form.add_error(None, form.errors.pop("form_key"))
        form.data = form.data.copy()
        form.data["form_key"] = str(uuid.uuid4())
    return _keys_page(request, form, status=400)


@managers_only
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, pk=pk)
    if revoke_api_key(api_key=api_key, revoked_by=request.user, request=request):
        messages.success(request, f"Key {api_key.name} (lk_{api_key.prefix}_…) is revoked: calls with it now get 401.")
    else:
        messages.info(request, f"Key {api_key.name} was already revoked.")
    return redirect("api_keys:list")


@managers_only
def docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI over the schema, from our own static files (drf-spectacular-sidecar): no CDN, and no inline
    script or style, so it runs under the site's Content-Security-Policy."""
    return render(request, "api/docs.html")


class ReadsSchema(permissions.BasePermission):
    """Any API key, or a manager signed in to the site (the docs page fetches the schema with the session)."""

    message = NO_KEY

    def has_permission(self, request, view) -> bool:
        if api_key_of(request) is not None:
            return True
        user = request.user
        return is_manager(user) and two_factor.pending_step(request._request) == two_factor.DONE


class FormatParameter(DefaultContentNegotiation):
    """The document answers `?format=json` (the resources take no such parameter: their Accept header decides)."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE="format")


class SchemaView(SpectacularAPIView):
    """The OpenAPI document: YAML, or JSON with `?format=json` or `Accept: application/json`."""

    authentication_classes = [BearerKeyAuthentication, SessionAuthentication]
    permission_classes = [ReadsSchema]
    throttle_classes = [ApiKeyRateThrottle]
    content_negotiation_class = FormatParameter
