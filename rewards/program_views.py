"""The managers' program pages: settings and versions, the what-if simulator, publishing, recalculation.

Thin: forms parse, services write, rewards.simulation reads. Every page is for managers; the writes
also need the `rewards.manage_program` permission.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from loyalty_site.access import can_manage_program, managers_only
from ops.replica import reads_from_replica

from . import simulation
from .calendar import add_months
from .controls import ControlWeakeningRefused
from .local_time import current_month
from .models import ExpiryPolicy, ProgramDraft, Recalculation, Reward, RuleVersion, Tier
from .program_forms import (
    ExpiryPolicyForm,
    PoliciesForm,
    PublishForm,
    RecalculationForm,
    RewardForm,
    RuleForms,
    SimulateForm,
    TierForm,
    rule_summary,
)
from .selectors import default_program, point_value_at, rule_version_at
from .services.expiry import PolicyRefused, set_expiry_policy
from .services.program import PublishRefused, publish_draft, save_draft, save_program_policies
from .services.recalculation import NothingToRecalculate, recalculate
from .services.redemption import save_reward
from .services.tiers import save_tier

NOT_ALLOWED = "Changing the program's rules needs the 'manage program' permission."
ROWS_SHOWN = 200


def _require_manage(request: HttpRequest) -> None:
    if not can_manage_program(request.user):
        raise PermissionDenied(NOT_ALLOWED)


def _draft(program) -> ProgramDraft | None:
    return ProgramDraft.objects.filter(program=program).select_related("author").first()


def _settings_page(request: HttpRequest, *, program, rule_forms=None, publish_form=None, status=200) -> HttpResponse:
    """The settings page; with forms that were judged, every problem is also listed at the top, each a link
    to its field (a long page: an error of the publish form at its foot would go unseen)."""
    draft = _draft(program)
    now = timezone.now()
    versions = list(RuleVersion.objects.filter(program=program).select_related("published_by"))
    latest = max(versions, key=lambda v: v.effective_from) if versions else None
    in_force = rule_version_at(now, program) if versions else None
    if rule_forms is None:
        rule_forms = RuleForms(rule=draft.rule if draft else (latest.rule if latest else {}), program=program)
    rows = [
        {
            "version": version,
            "summary": rule_summary(version.engine_rule()),
            "status": "scheduled"
            if version.effective_from > now
            else ("in force" if in_force and version.pk == in_force.pk else "past"),
        }
        for version in versions
    ]
    problems = rule_forms.problems() if rule_forms.settings.is_bound else []
    if publish_form is not None and publish_form.is_bound:
        problems += [
            (
                f"Publish, {publish_form.fields[name].label.lower()}" if name != "__all__" else "Publish",
                str(error),
                publish_form[name].auto_id if name != "__all__" else "publish",
            )
            for name, errors in publish_form.errors.items()
            for error in errors
        ]
    context = {
        "problems": problems,
        "program": program,
        "draft": draft,
        "draft_summary": rule_summary(draft.engine_rule()) if draft else [],
        "based_on": latest,
        "forms": rule_forms,
        "publish_form": publish_form or PublishForm(),
        "versions": rows,
        "recalculations": Recalculation.objects.filter(program=program).select_related("author", "rule_version")[:10],
    }
    return render(request, "rewards/program/settings.html", context, status=status)


@managers_only
def settings_page(request: HttpRequest) -> HttpResponse:
    """The program's rule as a draft to edit, the versions published so far, and the way to publish."""
    program = default_program()
    if request.method != "POST":
        return _settings_page(request, program=program)
    _require_manage(request)
    action = request.POST.get("action", "save")
    if action.startswith(("add-", "remove-")):
        # A row added or removed: the page again as typed, nothing saved until "Save draft".
        return _settings_page(
            request, program=program, rule_forms=RuleForms.edited(request.POST, action, program=program)
        )
    rule_forms = RuleForms(request.POST, program=program)
    if not rule_forms.is_valid():
        return _settings_page(request, program=program, rule_forms=rule_forms, status=400)
    save_draft(program=program, rule=rule_forms.rule, author=request.user)
    if request.POST.get("action") == "simulate":
        return redirect("program:simulate")
    messages.success(request, "Draft saved. Nothing changes for customers until it is published.")
    return redirect("program:settings")


@managers_only
@require_POST
def discard_draft(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    ProgramDraft.objects.filter(program=default_program()).delete()
    messages.success(request, "Draft discarded.")
    return redirect("program:settings")


@managers_only
@require_POST
def publish(request: HttpRequest) -> HttpResponse:
    """Publish the saved draft as a new rule version: from now, or from a later moment."""
    _require_manage(request)
    program = default_program()
    draft = _draft(program)
    if draft is None:
        messages.error(request, "There is no draft to publish: save one first.")
        return redirect("program:settings")
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, program=program, publish_form=form, status=400)
    try:
        version = publish_draft(
            draft=draft,
            published_by=request.user,
            effective_from=form.cleaned_data["effective_from"],
            note=form.cleaned_data["note"],
        )
    except PublishRefused as refusal:
        form.add_error("effective_from", str(refusal))
        return _settings_page(request, program=program, publish_form=form, status=400)
    when = timezone.localtime(version.effective_from)
    messages.success(request, f"Published: the new rule is in force from {when:%Y-%m-%d %H:%M}.")
    return redirect("program:settings")


@managers_only
@reads_from_replica
def simulate(request: HttpRequest) -> HttpResponse:
    """Replay a past period under the saved draft beside what was actually earned. Writes nothing."""
    program = default_program()
    draft = _draft(program)
    first, months = simulation.default_period()
    form = SimulateForm(
        request.GET or {"point_value": point_value_at(program=program)}, default_start=first, default_months=months
    )
    comparison = None
    reanchored = False
    if draft is not None and form.is_valid():
        rule = draft.engine_rule()
        start, months = form.cleaned_data["start"], form.cleaned_data["months"]
        # Re-anchored unless asked otherwise: a planned promotion's own dates are in the future.
        reanchored = bool(rule.promotions) and form.cleaned_data["promotions"] != SimulateForm.AS_DATED
        if reanchored:
            rule = simulation.reanchor_promotions(rule, start, months)
        comparison = simulation.compare(
            rule=rule,
            first_month=start,
            months=months,
            point_value=form.cleaned_data["point_value"] if form.cleaned_data["point_value"] is not None else None,
            program=program,
        )
    return render(
        request,
        "rewards/program/simulate.html",
        {
            "program": program,
            "draft": draft,
            "draft_summary": rule_summary(draft.engine_rule()) if draft else [],
            "form": form,
            "comparison": comparison,
            "reanchored": reanchored,
            "rows": comparison.largest(ROWS_SHOWN, changed_only=form.cleaned_data.get("changed_only", False))
            if comparison
            else [],
            "rows_shown": ROWS_SHOWN,
            "publish_form": PublishForm(),
        },
    )


@managers_only
def recalculate_page(request: HttpRequest) -> HttpResponse:
    """Re-rate a past period under a version: preview the differences, then post them as adjustments."""
    program = default_program()
    first, months = simulation.default_period()
    data = request.POST if request.method == "POST" else request.GET
    period = {"program": program, "default_start": first, "default_months": months}
    form = RecalculationForm(data or None, **period)
    if not data:
        form = RecalculationForm(initial={"version": rule_version_at(timezone.now(), program)}, **period)
    if request.method == "POST":
        _require_manage(request)
        if form.is_valid():
            try:
                done = recalculate(
                    program=program,
                    version=form.cleaned_data["version"],
                    first_month=form.cleaned_data["start"],
                    months=form.cleaned_data["months"],
                    author=request.user,
                )
            except NothingToRecalculate as nothing:
                messages.info(request, str(nothing))
            else:
                messages.success(
                    request,
                    f"Recalculation #{done.pk} posted {done.points:+d} points as adjustments for "
                    f"{done.customers} customer(s).",
                )
                return redirect(reverse("program:settings") + "#recalculations")
    comparison = None
    if form.is_bound and form.is_valid():
        comparison = simulation.compare(
            rule=form.cleaned_data["version"].engine_rule(),
            first_month=form.cleaned_data["start"],
            months=form.cleaned_data["months"],
            program=program,
        )
    changed = comparison.changed() if comparison else []
    return render(
        request,
        "rewards/program/recalculate.html",
        {
            "form": form,
            "comparison": comparison,
            "changed": simulation.name_rows(changed[:ROWS_SHOWN]) if changed else [],
            "changed_count": len(changed),
            "rows_shown": ROWS_SHOWN,
        },
    )


# ---------------------------------------------------------------------------------------------------
# The rewards catalog.


@managers_only
def rewards_page(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """The catalog with a form to add a reward, or to edit the one chosen (?edit=<pk> or /rewards/<pk>/)."""
    instance = get_object_or_404(Reward, pk=pk) if pk else None
    if request.method == "POST":
        _require_manage(request)
        form = RewardForm(request.POST, instance=instance)
        if form.is_valid():
            reward = save_reward(reward=form.save(commit=False))
            messages.success(request, f"Saved {reward.name}.")
            return redirect("program:rewards")
    else:
        form = RewardForm(instance=instance)
    rewards = Reward.objects.filter(program=default_program()).annotate(
        redeemed=Count("redemptions", filter=Q(redemptions__undone_at__isnull=True))
    )
    return render(request, "rewards/program/rewards.html", {"form": form, "rewards": rewards, "editing": instance})


@managers_only
def policies_page(request: HttpRequest) -> HttpResponse:
    """The program's policies: spent points on refunds, the size of adjustment that needs approval, and
    the history of expiry rules with a form to schedule the next."""
    program = default_program()
    form = PoliciesForm(instance=program)
    next_month = add_months(current_month(), 1)
    expiry_form = ExpiryPolicyForm(initial={"effective_month": next_month, "kind": ExpiryPolicy.Kind.NEVER})
    status = 200
    if request.method == "POST":
        _require_manage(request)
        if request.POST.get("form") == "expiry":
            expiry_form = ExpiryPolicyForm(request.POST)
            if expiry_form.is_valid():
                data = expiry_form.cleaned_data
                try:
                    set_expiry_policy(
                        program=program,
                        kind=data["kind"],
                        months=data["months"] or 0,
                        changed_by=request.user,
                        effective_month=data["effective_month"],
                    )
                except PolicyRefused as refusal:
                    expiry_form.add_error("effective_month", str(refusal))
                else:
                    messages.success(request, "Expiry rule scheduled.")
                    return redirect("program:policies")
        else:
            form = PoliciesForm(request.POST, instance=program)
            if form.is_valid():
                try:
                    save_program_policies(
                        program=program, changed_by=request.user, **{f: form.cleaned_data[f] for f in form.fields}
                    )
                except ControlWeakeningRefused as refusal:
                    form.add_error(refusal.field, str(refusal))
                else:
                    messages.success(request, "Policies saved.")
                    return redirect("program:policies")
        status = 400
    context = {
        "form": form,
        "expiry_form": expiry_form,
        "program": program,
        "expiry_policies": ExpiryPolicy.objects.filter(program=program).select_related("changed_by"),
    }
    return render(request, "rewards/program/policies.html", context, status=status)


@managers_only
def tiers_page(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """The program's tiers, with a form to add one or edit the one chosen."""
    program = default_program()
    instance = get_object_or_404(Tier, pk=pk, program=program) if pk else None
    form = TierForm(request.POST or None, instance=instance)
    if request.method == "POST":
        _require_manage(request)
        if form.is_valid():
            tier = form.save(commit=False)
            tier.program = program
            try:
                save_tier(tier=tier)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Saved {tier.name}.")
                return redirect("program:tiers")
    tiers = Tier.objects.filter(program=program)
    return render(
        request, "rewards/program/tiers.html", {"form": form, "tiers": tiers, "editing": instance, "program": program}
    )
