"""Forms of the program settings, the simulator and the recalculation pages. Thin: they parse, and the
engine decides whether a rule can be used; its RuleError names the field the message goes beside."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from transactions.models import Store

from . import engine
from .models import RuleVersion
from .selectors import add_months
from .services import NOW_TOLERANCE

WEEKDAY_CHOICES = [(str(index), name) for index, name in enumerate(engine.WEEKDAYS)]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class RuleSettingsForm(forms.Form):
    minimum_purchase = forms.DecimalField(
        required=False, decimal_places=2, max_digits=12, help_text="Below this amount a purchase earns nothing."
    )
    base_rate = forms.DecimalField(
        required=False,
        decimal_places=4,
        max_digits=10,
        help_text="Points per whole unit from zero up to the first threshold (optional).",
    )
    promotion_mode = forms.ChoiceField(
        choices=[("stack", "Stack: every promotion that applies"), ("best", "Best: only the one worth most")],
        initial="stack",
    )
    stamp_every = forms.IntegerField(
        required=False, label="Stamp card: every Nth visit", help_text="Leave blank for no stamp card."
    )
    stamp_bonus = forms.IntegerField(required=False, label="Stamp card: bonus points")
    stamp_minimum = forms.DecimalField(
        required=False, decimal_places=2, max_digits=12, label="Stamp card: minimum purchase"
    )
    enrolment_bonus = forms.IntegerField(required=False, label="Enrolment bonus")
    birthday_bonus = forms.IntegerField(required=False, label="Birthday bonus (once a year)")
    referral_bonus = forms.IntegerField(required=False, label="Referral bonus (on the new member's first purchase)")

    # engine path -> field
    PATHS = {
        "base_rate": "base_rate",
        "minimum_purchase": "minimum_purchase",
        "promotion_mode": "promotion_mode",
        "stamp_card": "stamp_every",
        "stamp_card.every": "stamp_every",
        "stamp_card.bonus": "stamp_bonus",
        "stamp_card.minimum_amount": "stamp_minimum",
        "bonuses.enrolment": "enrolment_bonus",
        "bonuses.birthday": "birthday_bonus",
        "bonuses.referral": "referral_bonus",
    }


class BandForm(forms.Form):
    threshold = forms.IntegerField(label="From (whole units)")
    rate = forms.DecimalField(decimal_places=4, max_digits=10, label="Points per unit above it")


class PromotionForm(forms.Form):
    name = forms.CharField(max_length=80)
    kind = forms.ChoiceField(choices=[("multiplier", "Multiplier"), ("bonus", "Fixed bonus")], initial="multiplier")
    multiplier = forms.DecimalField(required=False, decimal_places=2, max_digits=6, help_text="e.g. 2 for double")
    bonus = forms.IntegerField(required=False, label="Bonus points")
    starts = forms.DateField(widget=DateInput())
    ends = forms.DateField(widget=DateInput())
    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: every day"
    )
    stores = forms.MultipleChoiceField(
        choices=[], required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: every store"
    )
    minimum_amount = forms.DecimalField(required=False, decimal_places=2, max_digits=12)

    def __init__(self, *args, store_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores"].choices = store_choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == "multiplier" and cleaned.get("multiplier") is None and "multiplier" in self.fields:
            self.add_error("multiplier", "Enter the multiplier, e.g. 2 for double points.")
        return cleaned


BandFormSet = forms.formset_factory(BandForm, extra=2, can_delete=True)
PromotionFormSet = forms.formset_factory(PromotionForm, extra=1, can_delete=True)


class RuleForms:
    """The settings form and its two formsets, together: build the engine's rule, or put each of the
    engine's refusals beside its field."""

    def __init__(self, data=None, *, rule: dict[str, Any] | None = None) -> None:
        # Submitted data stands on its own; the rule only fills an unsubmitted page.
        initial, bands, promotions = _initial({} if data is not None else (rule or {}))
        self.settings = RuleSettingsForm(data, initial=initial)
        self.bands = BandFormSet(data, prefix="bands", initial=bands)
        stores = list(Store.objects.filter(is_active=True).values_list("code", "name"))
        self.promotions = PromotionFormSet(
            data, prefix="promotions", initial=promotions, form_kwargs={"store_choices": stores}
        )
        self.rule: engine.Rule | None = None

    def is_valid(self) -> bool:
        valid = [self.settings.is_valid(), self.bands.is_valid(), self.promotions.is_valid()]
        if not all(valid):
            return False
        band_forms = _used(self.bands)
        promotion_forms = _used(self.promotions)
        data = _rule_data(self.settings.cleaned_data, band_forms, promotion_forms)
        # The engine stops at the first refusal; check each part on its own first, so that every
        # field with a problem gets its message in one round.
        parts = [
            {key: data[key] for key in ("bands", "base_rate", "minimum_purchase")},
            {"promotion_mode": data["promotion_mode"]},
            {"bonuses": data["bonuses"]},
            *([{"stamp_card": data["stamp_card"]}] if "stamp_card" in data else []),
        ]
        refused = False
        for part in parts:
            refused |= self._check(part, band_forms, promotion_forms)
        for index, promotion in enumerate(data["promotions"]):
            # Checked alone it is promotion 0: put the message on its own form.
            refused |= self._check({"promotions": [promotion]}, band_forms, promotion_forms[index : index + 1])
        if refused or self._check(data, band_forms, promotion_forms):
            return False
        self.rule = engine.Rule.from_dict(data)
        return True

    def _check(self, data: dict[str, Any], band_forms, promotion_forms) -> bool:
        """Whether the engine refuses this (part of a) rule; its message goes beside its field."""
        try:
            engine.Rule.from_dict(data)
        except engine.RuleError as error:
            self._place(error, band_forms, promotion_forms)
            return True
        return False

    def _place(self, error: engine.RuleError, band_forms, promotion_forms) -> None:
        parts = error.path.split(".")
        if parts[0] in ("bands", "promotions") and len(parts) >= 2 and parts[1].isdigit():
            forms_used = band_forms if parts[0] == "bands" else promotion_forms
            form = forms_used[int(parts[1])]
            field = parts[2] if len(parts) > 2 and parts[2] in form.fields else None
            form.add_error(field, error.message)
        elif error.path in RuleSettingsForm.PATHS:
            self.settings.add_error(RuleSettingsForm.PATHS[error.path], error.message)
        else:
            self.settings.add_error(None, str(error))

    @property
    def errors(self) -> bool:
        return bool(
            self.settings.errors
            or any(f.errors for f in self.bands)
            or any(f.errors for f in self.promotions)
            or self.bands.non_form_errors()
            or self.promotions.non_form_errors()
        )


def _used(formset) -> list[forms.Form]:
    """The forms that hold a band or promotion: filled in (a blank extra row cleans to nothing) and not
    marked for deletion."""
    return [form for form in formset.forms if len(form.cleaned_data) > 1 and not form.cleaned_data.get("DELETE")]


def _rule_data(settings: dict, band_forms, promotion_forms) -> dict[str, Any]:
    data: dict[str, Any] = {
        "bands": [{"threshold": f.cleaned_data["threshold"], "rate": str(f.cleaned_data["rate"])} for f in band_forms],
        "base_rate": str(settings.get("base_rate") or 0),
        "minimum_purchase": str(settings.get("minimum_purchase") or 0),
        "promotion_mode": settings.get("promotion_mode") or "stack",
        "promotions": [
            {
                "name": f.cleaned_data["name"],
                "kind": f.cleaned_data["kind"],
                "multiplier": str(f.cleaned_data["multiplier"] if f.cleaned_data["multiplier"] is not None else 1),
                "bonus": f.cleaned_data["bonus"] or 0,
                "starts": f.cleaned_data["starts"].isoformat(),
                "ends": f.cleaned_data["ends"].isoformat(),
                "weekdays": [int(day) for day in f.cleaned_data["weekdays"]],
                "stores": list(f.cleaned_data["stores"]),
                "minimum_amount": str(f.cleaned_data["minimum_amount"] or 0),
            }
            for f in promotion_forms
        ],
        "bonuses": {
            "enrolment": settings.get("enrolment_bonus") or 0,
            "birthday": settings.get("birthday_bonus") or 0,
            "referral": settings.get("referral_bonus") or 0,
        },
    }
    every, bonus, minimum = settings.get("stamp_every"), settings.get("stamp_bonus"), settings.get("stamp_minimum")
    if every is not None or bonus is not None or minimum is not None:
        data["stamp_card"] = {"every": every or 0, "bonus": bonus or 0, "minimum_amount": str(minimum or 0)}
    return data


def _initial(rule: dict[str, Any]) -> tuple[dict, list[dict], list[dict]]:
    card = rule.get("stamp_card") or {}
    bonuses = rule.get("bonuses") or {}
    initial = {
        "minimum_purchase": Decimal(str(rule.get("minimum_purchase", 0))) or None,
        "base_rate": Decimal(str(rule.get("base_rate", 0))) or None,
        "promotion_mode": rule.get("promotion_mode", "stack"),
        "stamp_every": card.get("every"),
        "stamp_bonus": card.get("bonus"),
        "stamp_minimum": Decimal(str(card["minimum_amount"])) if card.get("minimum_amount") else None,
        "enrolment_bonus": bonuses.get("enrolment") or None,
        "birthday_bonus": bonuses.get("birthday") or None,
        "referral_bonus": bonuses.get("referral") or None,
    }
    bands = [{"threshold": band["threshold"], "rate": Decimal(str(band["rate"]))} for band in rule.get("bands", [])]
    promotions = [
        {
            "name": p["name"],
            "kind": p.get("kind", "multiplier"),
            "multiplier": Decimal(str(p["multiplier"])) if p.get("kind", "multiplier") == "multiplier" else None,
            "bonus": p.get("bonus") or None,
            "starts": dt.date.fromisoformat(p["starts"]),
            "ends": dt.date.fromisoformat(p["ends"]),
            "weekdays": [str(day) for day in p.get("weekdays", [])],
            "stores": p.get("stores", []),
            "minimum_amount": Decimal(str(p.get("minimum_amount", 0))) or None,
        }
        for p in rule.get("promotions", [])
    ]
    return initial, bands, promotions


class PublishForm(forms.Form):
    effective_from = forms.DateTimeField(
        required=False,
        label="Effective from",
        help_text="Leave blank for now; or a later moment. Never the past.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(max_length=200, required=False)

    def clean_effective_from(self):
        moment = self.cleaned_data.get("effective_from")
        if moment is not None and moment < timezone.now() - NOW_TOLERANCE:
            raise forms.ValidationError("A new version cannot start in the past: history is never rewritten.")
        return moment


class MonthField(forms.DateField):
    """A calendar month typed as YYYY-MM; its value is the month's first day."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ["%Y-%m"]

    def to_python(self, value):
        day = super().to_python(value)
        return day.replace(day=1) if day else day


class PeriodForm(forms.Form):
    first_month = MonthField(label="First month")
    months = forms.IntegerField(min_value=1, max_value=12, initial=3, label="Months")

    def clean(self):
        cleaned = super().clean()
        first, months = cleaned.get("first_month"), cleaned.get("months")
        if first and months and add_months(first, months) > add_months(timezone.localdate().replace(day=1), 1):
            self.add_error("first_month", "The period must be in the past (it may include this month).")
        return cleaned


class SimulateForm(PeriodForm):
    point_value = forms.DecimalField(
        min_value=Decimal(0), decimal_places=4, max_digits=10, label="Value per point", required=False
    )


class RecalculationForm(PeriodForm):
    version = forms.ModelChoiceField(queryset=RuleVersion.objects.none(), label="Rule version", empty_label=None)

    def __init__(self, *args, program, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = RuleVersion.objects.filter(
            program=program, effective_from__lte=timezone.now()
        ).select_related("published_by")
        self.fields["version"].label_from_instance = lambda v: (
            f"from {timezone.localtime(v.effective_from):%Y-%m-%d %H:%M}" + (f" · {v.note}" if v.note else "")
        )


def rule_summary(rule: engine.Rule) -> list[str]:
    """The rule in a few lines a manager can read, for the versions list."""
    lines = []
    bands = [f"{_plain(b.rate)}/unit over {b.threshold}" for b in rule.bands]
    if rule.base_rate:
        bands.insert(0, f"{_plain(rule.base_rate)}/unit from 0")
    lines.append("Bands: " + (", ".join(bands) or "none"))
    if rule.minimum_purchase:
        lines.append(f"Minimum purchase {rule.minimum_purchase:.2f}")
    for p in rule.promotions:
        days = ", ".join(engine.WEEKDAYS[d][:3] for d in p.weekdays) or "every day"
        where = ", ".join(p.stores) or "every store"
        lines.append(f"Promotion {p.describe()} {p.starts}–{p.ends}, {days}, {where}")
    if len(rule.promotions) > 1:
        lines.append(f"Promotions: {rule.promotion_mode}")
    if rule.stamp_card:
        lines.append(f"Stamp card: every {rule.stamp_card.every} visits +{rule.stamp_card.bonus}")
    b = rule.bonuses
    if b != engine.BonusActions():
        lines.append(f"Bonuses: enrolment {b.enrolment}, birthday {b.birthday}, referral {b.referral}")
    return lines


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


class RewardForm(forms.ModelForm):
    """A reward of the catalog, as a manager creates or edits it."""

    class Meta:
        from .models import Reward

        model = Reward
        fields = [
            "name",
            "points_cost",
            "benefit",
            "amount_off",
            "description",
            "active_from",
            "active_until",
            "stock",
            "per_customer_limit",
            "min_tier",
        ]
        widgets = {"active_from": DateInput(), "active_until": DateInput()}

    def clean(self):
        data = super().clean()
        if data.get("benefit") == "amount_off" and not data.get("amount_off"):
            self.add_error("amount_off", "Say how much an amount-off reward takes off.")
        start, end = data.get("active_from"), data.get("active_until")
        if start and end and end < start:
            self.add_error("active_until", "The last day cannot be before the first.")
        return data


class PoliciesForm(forms.ModelForm):
    """The program's settings beside its earning rule: spent points on refund, adjustments needing approval."""

    class Meta:
        from .models import Program

        model = Program
        fields = ["negative_balance_policy", "adjustment_approval_threshold", "tier_window", "tier_downgrade"]
        labels = {
            "negative_balance_policy": "When a refund takes back points already spent",
            "adjustment_approval_threshold": "Manual adjustments above this many points need a second manager",
            "tier_window": "Tiers qualify by points earned within",
            "tier_downgrade": "Customers move down a tier",
        }
        help_texts = {
            "negative_balance_policy": "Only an owner allows a negative balance; a manager may switch it back.",
            "adjustment_approval_threshold": "Only an owner raises it; a manager may lower it.",
        }


class ExpiryPolicyForm(forms.Form):
    """A change of the expiry rule, from the start of a future month. Earlier points keep their month's rule."""

    kind = forms.ChoiceField(label="Expiry", choices=[])
    months = forms.IntegerField(label="N months", min_value=0, max_value=240, initial=12)
    effective_month = forms.DateField(
        label="From the first day of",
        widget=DateInput(),
        help_text="The first day of a month, next month at the earliest.",
    )

    def __init__(self, *args, **kwargs):
        from .models import ExpiryPolicy

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = ExpiryPolicy.Kind.choices

    def clean(self):
        data = super().clean()
        if data.get("kind") and data["kind"] != "never" and not data.get("months"):
            self.add_error("months", "Say after how many months.")
        return data


class TierForm(forms.ModelForm):
    class Meta:
        from .models import Tier

        model = Tier
        fields = ["name", "rank", "threshold", "multiplier"]
        labels = {"threshold": "Points earned to reach it", "multiplier": "Earning multiplier"}
