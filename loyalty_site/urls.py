from django.contrib import admin
from django.urls import include, path, re_path

from accounts.views import PasswordResetView
from api.views import not_found
from ops.metrics import metrics_view

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("api.urls")),
    # Anything else under /api/ answers problem+json, never the site's HTML page.
    re_path(r"^api/", not_found),
    path("api-keys/", include("api.page_urls")),
    path("admin/", admin.site.urls),
    # Before Django's own: password reset says so where no mail can be sent.
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("accounts.urls")),
    path("audit/", include("audit.urls")),
    # Before reports/ and program/: the members' side has a page under each (feedback, member settings).
    path("", include("members.urls")),
    path("reports/", include("rewards.urls")),
    path("program/", include("rewards.program_urls")),
    path("webhooks/", include("webhooks.urls")),
    path("imports/", include("imports.urls")),
    path("accounting/", include("rewards.accounting_urls")),
    path("", include("customers.urls")),
    path("", include("transactions.urls")),
]

# A crash answers problem+json under /api/, the site's page elsewhere.
handler500 = "api.views.server_error"
