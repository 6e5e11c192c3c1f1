"""Forms of the program pages: the rule's settings, publishing, the simulator and recalculation, the catalog,
the policies and the tiers. Thin: they parse, and the engine decides whether a rule can be used.

The rule's forms are built from the rule's schema (rewards.schema Params, declared by the engine's classes
and by each promotion kind and bonus action in rewards.kinds): a new kind adds its own fields here without
an edit. The engine's RuleError names the field its message goes beside.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from loyalty_site.forms import DateInput
from transactions.forms import AmountField
from transactions.models import Store

from . import engine, schema
from .forms import PeriodForm
from .kinds import BONUS_ACTIONS, PROMOTION_KINDS
from .models import ExpiryPolicy, Program, Reward, RuleVersion, Tier
from .services.program import NOW_TOLERANCE, check_rule_capacity

WEEKDAY_CHOICES = [(str(index), name) for index, name in enumerate(schema.WEEKDAYS)]


class _AsciiDigits:
    """Numbers typed with ASCII digits only: Django's number fields would also take other scripts' digits."""

    def to_python(self, value):
        if isinstance(value, str) and not value.strip().isascii():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class NumberField(_AsciiDigits, forms.DecimalField):
    pass


class WholeField(_AsciiDigits, forms.IntegerField):
    pass


def field_for(param: schema.Param, *, label: str | None = None, required: bool = False) -> forms.Field:
    """The form field that asks a manager for a Param of the rule."""
    common = {"label": label or param.label, "help_text": param.help, "required": required}
    if param.kind == schema.NUMBER:
        return NumberField(decimal_places=4, max_digits=14, **common)
    if param.kind == schema.AMOUNT:
        return AmountField(**common)
    if param.kind == schema.WHOLE:
        return WholeField(**common)
    if param.kind == schema.DATE:
        return forms.DateField(widget=DateInput(), **common)
    if param.kind == schema.CHOICE:
        return forms.ChoiceField(choices=param.choices, initial=param.default, **common)
    if param.kind in (schema.DAYS, schema.CODES):
        choices = WEEKDAY_CHOICES if param.kind == schema.DAYS else []
        return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
    return forms.CharField(max_length=80, **common)


def _stored(param: schema.Param, value: Any) -> Any:
    """A cleaned form value in the rule's stored form (blank: the Param's default)."""
    if value in (None, "", []):
        value = param.default
    if param.kind == schema.DAYS:
        return [int(day) for day in value or ()]
    return param.dump(value)


def _initial(param: schema.Param, stored: Any) -> Any:
    """A stored value as a form's initial value (its default shows as blank)."""
    if param.kind == schema.CHOICE:
        return param.default if stored is None else stored
    if stored is None or stored == param.default or stored == param.dump(param.default):
        return None
    if param.kind in (schema.NUMBER, schema.AMOUNT):
        return Decimal(str(stored))
    if param.kind == schema.DATE:
        return dt.date.fromisoformat(stored)
    if param.kind == schema.DAYS:
        return [str(day) for day in stored]
    return stored


# The settings form's fields: the rule's own, the stamp card's (stamp_...) and one per bonus action
# (<action>_bonus), each with the engine path whose refusals go beside it.
_SETTINGS: dict[str, tuple[str, schema.Param]] = {
    **{param.name: (param.name, param) for param in engine.Rule.params},
    **{f"stamp_{p.name.removesuffix('_amount')}": (f"stamp_card.{p.name}", p) for p in engine.StampCard.params},
    **{f"{key}_bonus": (f"bonuses.{key}", action.param) for key, action in BONUS_ACTIONS.items()},
}
STAMP_FIELDS = [name for name, (path, _param) in _SETTINGS.items() if path.startswith("stamp_card.")]
BONUS_FIELDS = [name for name, (path, _param) in _SETTINGS.items() if path.startswith("bonuses.")]


class RuleSettingsForm(forms.Form):
    # engine path -> field
    PATHS = {path: name for name, (path, _param) in _SETTINGS.items()} | {"stamp_card": STAMP_FIELDS[0]}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (_path, param) in _SETTINGS.items():
            self.fields[name] = field_for(param, required=param.kind == schema.CHOICE)

    def stamp_fields(self):
        return [self[name] for name in STAMP_FIELDS]

    def bonus_fields(self):
        return [self[name] for name in BONUS_FIELDS]


class BandForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in engine.Band.params:
            self.fields[param.name] = field_for(param, required=True)


# Every promotion's own fields, then each kind's (a kind's fields apply when it is chosen).
_KIND_PARAMS = {param.name: param for kind in PROMOTION_KINDS.values() for param in kind.params}


class PromotionForm(forms.Form):
    def __init__(self, *args, store_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        for param in engine.Promotion.params:
            self.fields[param.name] = field_for(param, required=param.required or param.kind == schema.CHOICE)
        for name, param in _KIND_PARAMS.items():
            self.fields[name] = field_for(param)
        self.fields["stores"].choices = store_choices

    def common_fields(self):
        return [self[param.name] for param in engine.Promotion.params if param.kind not in (schema.DAYS, schema.CODES)]

    def kind_fields(self):
        return [self[name] for name in _KIND_PARAMS]

    def clean(self):
        cleaned = super().clean()
        kind = PROMOTION_KINDS.get(cleaned.get("kind", ""))
        for param in kind.params if kind else ():
            if cleaned.get(param.name) is None and param.name not in self.errors:
                self.add_error(param.name, f"Enter the {param.label.lower()} of a {kind.label.lower()} promotion.")
        return cleaned

    def stored(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = PROMOTION_KINDS[data["kind"]]
        return {param.name: _stored(param, data.get(param.name)) for param in (*engine.Promotion.params, *kind.params)}


# No blank rows and no "delete" checkboxes: rows are added and removed with the page's own buttons
# (RuleForms.edited), which work without JavaScript.
class RowsFormSet(forms.BaseFormSet):
    """Submitted rows are all "extra": one added and left blank is skipped, not refused as incomplete."""

    def initial_form_count(self) -> int:
        return 0 if self.is_bound else super().initial_form_count()


BandFormSet = forms.formset_factory(BandForm, formset=RowsFormSet, extra=0)
PromotionFormSet = forms.formset_factory(PromotionForm, formset=RowsFormSet, extra=0)
PROMOTION_LISTS = ("weekdays", "stores")


def _rows(data, prefix: str, names: list[str], lists: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rows of a submitted formset as typed (strings, lists for checkboxes), for showing them again."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), 100)
    except ValueError:
        total = 0

    def value(index: int, name: str):
        key = f"{prefix}-{index}-{name}"
        return data.getlist(key) if name in lists else data.get(key, "")

    return [{name: value(index, name) for name in names} for index in range(total)]


class RuleForms:
    """The settings form and its two formsets, together: build the engine's rule, or put each of the
    engine's refusals beside its field."""

    def __init__(
        self,
        data=None,
        *,
        rule: dict[str, Any] | None = None,
        program: Program | None = None,
        initial: tuple[dict, list[dict], list[dict]] | None = None,
    ) -> None:
        # Submitted data stands on its own; the rule (or rows as typed) only fills an unsubmitted page.
        initial, bands, promotions = initial or _initial_of({} if data is not None else (rule or {}))
        self.program = program
        self.settings = RuleSettingsForm(data, initial=initial)
        self.bands = BandFormSet(data, prefix="bands", initial=bands)
        stores = list(Store.objects.filter(is_active=True).values_list("code", "name"))
        self.promotions = PromotionFormSet(
            data, prefix="promotions", initial=promotions, form_kwargs={"store_choices": stores}
        )
        self.rule: engine.Rule | None = None

    @classmethod
    def edited(cls, data, action: str, *, program: Program | None = None) -> RuleForms:
        """The forms as submitted, with a row added ("add-band", "add-promotion") or removed ("remove-band-1",
        "remove-promotion-0"): shown again without judging them, so nothing is saved and no error shows
        for a row still being filled in."""
        settings = {name: data.get(name, "") for name in _SETTINGS}
        bands = _rows(data, "bands", [param.name for param in engine.Band.params])
        promotion_names = [param.name for param in engine.Promotion.params] + list(_KIND_PARAMS)
        promotions = _rows(data, "promotions", promotion_names, lists=PROMOTION_LISTS)
        what, _, index = action.partition("-")
        rows = bands if index.startswith("band") else promotions
        if what == "add":
            rows.append({"kind": engine.Promotion.params[1].default} if rows is promotions else {})
        elif what == "remove" and (number := index.rpartition("-")[2]).isdigit() and int(number) < len(rows):
            del rows[int(number)]
        return cls(None, program=program, initial=(settings, bands, promotions))

    def is_valid(self) -> bool:
        """Judge every part that can be judged, so that every field with a problem gets its message in one
        round: the forms' own checks, then the engine's on each part whose fields passed them (the engine
        stops at its first refusal, so each part is checked on its own), then the whole rule's capacity."""
        valid = [self.settings.is_valid(), self.bands.is_valid(), self.promotions.is_valid()]
        settings_errors = set(self.settings.errors)
        band_forms = _used(self.bands) if valid[1] else []
        promotion_forms = [form for form in _used(self.promotions) if not form.errors]
        data = _rule_data(self.settings.cleaned_data, band_forms, promotion_forms)
        parts = []
        if valid[1] and not settings_errors & {"base_rate", "minimum_purchase"}:
            parts.append({key: data[key] for key in ("bands", "base_rate", "minimum_purchase")})
        if "promotion_mode" not in settings_errors:
            parts.append({"promotion_mode": data["promotion_mode"]})
        if not settings_errors & set(BONUS_FIELDS):
            parts.append({"bonuses": data["bonuses"]})
        if "stamp_card" in data and not settings_errors & set(STAMP_FIELDS):
            parts.append({"stamp_card": data["stamp_card"]})
        refused = False
        for part in parts:
            refused |= self._check(part, band_forms, promotion_forms)
        for index, promotion in enumerate(data["promotions"]):
            # Checked alone it is promotion 0: put the message on its own form.
            refused |= self._check({"promotions": [promotion]}, band_forms, promotion_forms[index : index + 1])
        if not all(valid) or refused or self._check(data, band_forms, promotion_forms, capacity=True):
            return False
        self.rule = engine.Rule.from_dict(data)
        return True

    def problems(self) -> list[tuple[str, str, str]]:
        """Every error on the page as (where, message, the field's id to link to), in the page's order."""
        found = [("Program", str(error), "") for error in self.settings.non_field_errors()]
        named = {name: field.label for name, field in self.settings.fields.items()}
        for number, form in enumerate(self.bands.forms, start=1):
            found += [(f"Band {number}", str(error), "") for error in form.non_field_errors()]
            found += [
                (f"Band {number}, {form.fields[name].label.lower()}", str(error), form[name].auto_id)
                for name, errors in form.errors.items()
                if name != "__all__"
                for error in errors
            ]
        found += [("Bands", str(error), "") for error in self.bands.non_form_errors()]
        for number, form in enumerate(self.promotions.forms, start=1):
            title = f"Promotion {number}"
            found += [(title, str(error), "") for error in form.non_field_errors()]
            found += [
                (f"{title}, {form.fields[name].label.lower()}", str(error), form[name].auto_id)
                for name, errors in form.errors.items()
                if name != "__all__"
                for error in errors
            ]
        found += [
            (named.get(name, name), str(error), self.settings[name].auto_id)
            for name, errors in self.settings.errors.items()
            if name != "__all__"
            for error in errors
        ]
        return found

    def _check(self, data: dict[str, Any], band_forms, promotion_forms, *, capacity: bool = False) -> bool:
        """Whether the engine refuses this (part of a) rule; its message goes beside its field. With
        `capacity`, also whether it could earn more than one ledger entry holds (the whole rule only)."""
        try:
            rule = engine.Rule.from_dict(data)
            if capacity and self.program is not None:
                check_rule_capacity(rule, self.program)
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
    """The forms that hold a band or promotion: filled in (a row added and left blank cleans to nothing)."""
    return [form for form in formset.forms if _filled(form)]


def _filled(form: forms.Form) -> bool:
    return any(value not in (None, "", [], False) for value in getattr(form, "cleaned_data", {}).values())


def _rule_data(settings: dict, band_forms, promotion_forms) -> dict[str, Any]:
    """The rule's stored form from the cleaned forms, through the same Params the engine reads it with."""
    values = {name: _stored(param, settings.get(name)) for name, (_path, param) in _SETTINGS.items()}
    data: dict[str, Any] = {
        "bands": [{p.name: _stored(p, f.cleaned_data[p.name]) for p in engine.Band.params} for f in band_forms],
        **{param.name: values[param.name] for param in engine.Rule.params},
        "promotions": [form.stored() for form in promotion_forms],
        "bonuses": {key: values[f"{key}_bonus"] for key in BONUS_ACTIONS},
    }
    if any(settings.get(name) not in (None, "") for name in STAMP_FIELDS):
        data["stamp_card"] = {_SETTINGS[name][1].name: values[name] for name in STAMP_FIELDS}
    return data


def _initial_of(rule: dict[str, Any]) -> tuple[dict, list[dict], list[dict]]:
    """A stored rule as the forms' initial values (defaults blank)."""
    stored = {
        **{param.name: rule.get(param.name) for param in engine.Rule.params},
        **{f"stamp_{k.removesuffix('_amount')}": v for k, v in (rule.get("stamp_card") or {}).items()},
        **{f"{key}_bonus": value for key, value in (rule.get("bonuses") or {}).items()},
    }
    initial = {name: _initial(param, stored.get(name)) for name, (_path, param) in _SETTINGS.items()}
    bands = [{p.name: _initial(p, band.get(p.name)) for p in engine.Band.params} for band in rule.get("bands", [])]
    promotions = []
    for promotion in rule.get("promotions", []):
        kind = PROMOTION_KINDS[promotion.get("kind", "multiplier")]
        params = (*engine.Promotion.params, *kind.params)
        values = {p.name: _initial(p, promotion.get(p.name)) for p in params}
        # A kind's own setting shows even at its default (a multiplier of 1 is still the multiplier).
        values.update({p.name: _initial_shown(p, promotion.get(p.name)) for p in kind.params})
        promotions.append(values)
    return initial, bands, promotions


def _initial_shown(param: schema.Param, stored: Any) -> Any:
    value = param.default if stored is None else stored
    return Decimal(str(value)) if param.kind in (schema.NUMBER, schema.AMOUNT) else value


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


class SimulateForm(PeriodForm):
    AS_DATED, REANCHORED = "dated", "period"
    point_value = forms.DecimalField(
        min_value=Decimal(0), decimal_places=4, max_digits=10, label="Value per point", required=False
    )
    promotions = forms.ChoiceField(
        label="The draft's promotions",
        choices=[
            (REANCHORED, "On this period: same weekdays and stores"),
            (AS_DATED, "On their own dates only"),
        ],
        required=False,
        help_text="To price a planned promotion against the past, it is moved onto the period by whole weeks.",
    )
    changed_only = forms.BooleanField(label="Only rows with a difference", required=False)

    def __init__(self, data=None, *, default_start: dt.date, default_months: int, **kwargs):
        super().__init__(
            data, default_start=default_start, default_months=default_months, max_months=12, past_only=True, **kwargs
        )


class RecalculationForm(PeriodForm):
    version = forms.ModelChoiceField(queryset=RuleVersion.objects.none(), label="Rule version", empty_label=None)

    def __init__(self, data=None, *, program: Program, default_start: dt.date, default_months: int, **kwargs):
        super().__init__(
            data, default_start=default_start, default_months=default_months, max_months=12, past_only=True, **kwargs
        )
        self.fields["version"].queryset = RuleVersion.objects.filter(
            program=program, effective_from__lte=timezone.now()
        ).select_related("published_by")
        self.fields["version"].label_from_instance = lambda v: (
            f"from {timezone.localtime(v.effective_from):%Y-%m-%d %H:%M}" + (f" · {v.note}" if v.note else "")
        )


def rule_summary(rule: engine.Rule) -> list[str]:
    """The rule in a few lines a manager can read, for the versions list."""
    lines = []
    bands = [f"{schema.plain(b.rate)}/unit over {b.threshold}" for b in rule.bands]
    if rule.base_rate:
        bands.insert(0, f"{schema.plain(rule.base_rate)}/unit from 0")
    lines.append("Bands: " + (", ".join(bands) or "none"))
    if rule.minimum_purchase:
        lines.append(f"Minimum purchase {rule.minimum_purchase:.2f}")
    for p in rule.promotions:
        days = ", ".join(schema.WEEKDAYS[d][:3] for d in p.weekdays) or "every day"
        where = ", ".join(p.stores) or "every store"
        lines.append(f"Promotion {p.describe()} {p.starts}–{p.ends}, {days}, {where}")
    if len(rule.promotions) > 1:
        lines.append(f"Promotions: {rule.promotion_mode}")
    if rule.stamp_card:
        lines.append(f"Stamp card: every {rule.stamp_card.every} visits +{rule.stamp_card.bonus}")
    if rule.bonuses:
        given = ", ".join(f"{BONUS_ACTIONS[key].label.lower()} {points}" for key, points in rule.bonuses.items())
        lines.append(f"Bonuses: {given}")
    return lines


class RewardForm(forms.ModelForm):
    """A reward of the catalog, as a manager creates or edits it."""

    class Meta:
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
        labels = {"min_tier": "Only from tier", "points_cost": "Points it costs"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Words, not Django's "---------": what an empty choice means here.
        self.fields["min_tier"].empty_label = "Every customer"
        self.fields["benefit"].choices = [choice for choice in self.fields["benefit"].choices if choice[0]]

    def clean(self):
        data = super().clean()
        if data.get("benefit") == Reward.Benefit.AMOUNT_OFF and not data.get("amount_off"):
            self.add_error("amount_off", "Say how much an amount-off reward takes off.")
        start, end = data.get("active_from"), data.get("active_until")
        if start and end and end < start:
            self.add_error("active_until", "The last day cannot be before the first.")
        return data


class PoliciesForm(forms.ModelForm):
    """The program's settings beside its earning rule: spent points on refund, adjustments needing approval."""

    class Meta:
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

    kind = forms.ChoiceField(label="Expiry", choices=ExpiryPolicy.Kind.choices)
    months = forms.IntegerField(label="N months", min_value=0, max_value=240, initial=12)
    effective_month = forms.DateField(
        label="From the first day of",
        widget=DateInput(),
        help_text="The first day of a month, next month at the earliest.",
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") and data["kind"] != ExpiryPolicy.Kind.NEVER and not data.get("months"):
            self.add_error("months", "Say after how many months.")
        return data


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ["name", "rank", "threshold", "multiplier"]
        labels = {"threshold": "Points earned to reach it", "multiplier": "Earning multiplier"}
