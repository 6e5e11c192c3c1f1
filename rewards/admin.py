import json

from django import forms
from django.contrib import admin
from django.utils import timezone

from . import engine
from .models import (
    BreakageEstimate,
    CustomerMonthPoints,
    MonthClose,
    PointsEntry,
    PointValue,
    Program,
    ProgramDraft,
    Recalculation,
    RuleVersion,
    StoreMonthPoints,
)
from .services.program import NOW_TOLERANCE, check_rule_capacity, publish_rule_version
from .services.valuation import start_point_values


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger and what is derived from it are read in the admin, never written."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    # What a point is worth has a history: the accounting section's "Point value" page sets it.
    list_display = ["name", "is_default"]
    fields = ["name"]

    def save_model(self, request, obj: Program, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            start_point_values(program=obj, set_by=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RuleVersionForm(forms.ModelForm):
    rule = forms.JSONField(
        initial=engine.CLASSIC_RULE.to_dict(),
        help_text=(
            'Spend bands, e.g. {"bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}]}; '
            "optionally base_rate, minimum_purchase, promotions, promotion_mode, stamp_card and bonuses. "
            "The program's Earning rule page edits the same rule with a form, and says what each setting means."
        ),
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    class Meta:
        model = RuleVersion
        fields = ["program", "effective_from", "rule", "note"]

    def clean_rule(self):
        """The engine reads the JSON as it reads every stored rule, and the program's capacity check refuses
        a rule that could earn more than one ledger entry holds; the message names the setting."""
        try:
            rule = engine.Rule.from_dict(self.cleaned_data["rule"] or {})
            if self.cleaned_data.get("program") is not None:
                check_rule_capacity(rule, self.cleaned_data["program"])
        except (engine.RuleError, AttributeError) as exc:
            raise forms.ValidationError(f"This rule cannot be used: {exc}") from exc
        return rule.to_dict()

    def clean_effective_from(self):
        moment = self.cleaned_data["effective_from"]
        if moment < timezone.now() - NOW_TOLERANCE:
            raise forms.ValidationError("A new version cannot start in the past: history is never rewritten.")
        return moment


@admin.register(RuleVersion)
class RuleVersionAdmin(admin.ModelAdmin):
    form = RuleVersionForm
    list_display = ["program", "effective_from", "rule_text", "note", "published_by", "published_at"]
    list_filter = ["program"]
    list_select_related = ["program", "published_by"]
    readonly_fields = ["published_by", "published_at"]

    @admin.display(description="Rule")
    def rule_text(self, version: RuleVersion) -> str:
        return json.dumps(version.rule)

    def save_model(self, request, obj: RuleVersion, form, change: bool) -> None:
        data = form.cleaned_data
        version = publish_rule_version(
            program=data["program"],
            rule=engine.Rule.from_dict(data["rule"]),
            effective_from=data["effective_from"],
            published_by=request.user,
            note=data.get("note", ""),
        )
        obj.pk = version.pk
        obj._state.adding = False

    def has_change_permission(self, request, obj=None) -> bool:
        # Versions are never edited: publish a new one.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin):
    # The explanation is rendered (for an earn entry, from its rule version, amount and facts), not stored.
    list_display = ["effective_at", "customer", "kind", "points", "transaction", "rule_version", "explanation"]
    readonly_fields = ["explanation"]
    list_select_related = ["customer", "transaction", "rule_version__program"]
    list_filter = ["kind", "transaction__store", "effective_at"]
    search_fields = ["customer__member_number", "customer__name", "transaction__receipt_number"]
    date_hierarchy = "effective_at"


@admin.register(CustomerMonthPoints)
class CustomerMonthPointsAdmin(ReadOnlyAdmin):
    list_display = ["customer", "month", *CustomerMonthPoints.SUMMED]
    list_select_related = ["customer"]
    list_filter = ["month"]
    search_fields = ["customer__member_number", "customer__name"]


@admin.register(ProgramDraft)
class ProgramDraftAdmin(ReadOnlyAdmin):
    """Drafts are edited on the program page (/program/); the admin shows them."""

    list_display = ["program", "author", "updated_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return True


@admin.register(Recalculation)
class RecalculationAdmin(ReadOnlyAdmin):
    list_display = ["pk", "program", "first_month", "months", "rule_version", "author", "created_at", "points"]
    list_select_related = ["program", "rule_version__program", "author"]


@admin.register(PointValue)
class PointValueAdmin(ReadOnlyAdmin):
    """Set on the accounting section's "Point value" page (a new version, never an edit)."""

    list_display = ["program", "effective_from", "value", "note", "set_by", "set_at"]
    list_select_related = ["program", "set_by"]


@admin.register(StoreMonthPoints)
class StoreMonthPointsAdmin(ReadOnlyAdmin):
    list_display = ["month", "store_key", "kind", "point_value", "points", "entries"]
    list_filter = ["month", "kind"]


@admin.register(MonthClose)
class MonthCloseAdmin(ReadOnlyAdmin):
    """Closed and reopened on the accounting section's "Month close" page."""

    list_display = ["month", "closed_by", "closed_at", "reopened_by", "reopened_at", "reopen_reason"]
    list_select_related = ["closed_by", "reopened_by"]


@admin.register(BreakageEstimate)
class BreakageEstimateAdmin(ReadOnlyAdmin):
    list_display = ["effective_month", "rate", "reason", "set_by", "set_at"]
    list_select_related = ["set_by"]
