"""/api/v1/: the resources, the OpenAPI document, its readable documentation, and the problem types."""

from django.urls import path, re_path

from . import pages, views

app_name = "api"

# A member number as customers.models allows it (up to 32 characters): anything else matches no customer.
MEMBER = r"(?P<member_number>[A-Za-z0-9][A-Za-z0-9_-]{0,31})"

urlpatterns = [
    path("schema/", pages.SchemaView.as_view(), name="schema"),
    path("docs/", pages.docs, name="docs"),
    path("problems/<slug:slug>", views.problem_type, name="problem"),
    path("customers", views.CustomersView.as_view(), name="customers"),
    re_path(rf"^customers/{MEMBER}$", views.CustomerView.as_view(), name="customer"),
    re_path(rf"^customers/{MEMBER}/ledger$", views.CustomerLedgerView.as_view(), name="ledger"),
    path("purchases", views.PurchasesView.as_view(), name="purchases"),
    path("refunds", views.RefundsView.as_view(), name="refunds"),
    path("rewards", views.RewardsView.as_view(), name="rewards"),
    path("redemptions", views.RedemptionsView.as_view(), name="redemptions"),
    path("reports/points", views.PointsReportView.as_view(), name="points_report"),
]
