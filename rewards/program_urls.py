"""The managers' program pages, mounted at /program/ (rewards/urls.py belongs to the reports)."""

from django.urls import path

from . import program_views

app_name = "program"

urlpatterns = [
    path("", program_views.settings_page, name="settings"),
    path("publish/", program_views.publish, name="publish"),
    path("draft/discard/", program_views.discard_draft, name="discard_draft"),
    path("simulate/", program_views.simulate, name="simulate"),
    path("policies/", program_views.policies_page, name="policies"),
    path("tiers/", program_views.tiers_page, name="tiers"),
    path("tiers/<int:pk>/", program_views.tiers_page, name="tier"),
    path("rewards/", program_views.rewards_page, name="rewards"),
    path("rewards/<int:pk>/", program_views.rewards_page, name="reward"),
    path("recalculate/", program_views.recalculate_page, name="recalculate"),
]
