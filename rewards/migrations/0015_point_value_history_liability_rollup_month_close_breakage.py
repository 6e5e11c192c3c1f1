"""The accountant's books (issue 15).

- The program's point value becomes a history (PointValue): its value becomes the first version, in force from
  the earliest moment a merchant can have records (1900-01-01 UTC); backwards, the value in force now goes back
  on the program.
- The liability roll-up (StoreMonthPoints), built here from the ledger as it is (the services keep it after).
- Month closes and the merchant's breakage estimates.
"""

import datetime

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.db.models import Case, Count, F, IntegerField, Sum, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncMonth
from django.utils import timezone

EARLIEST = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)


def copy_point_values(apps, schema_editor):
    Program = apps.get_model("rewards", "Program")
    PointValue = apps.get_model("rewards", "PointValue")
    for program in Program.objects.all():
        PointValue.objects.create(
            program=program, effective_from=EARLIEST, value=program.point_value, note="the program's first value"
        )


def restore_point_values(apps, schema_editor):
    Program = apps.get_model("rewards", "Program")
    PointValue = apps.get_model("rewards", "PointValue")
    for program in Program.objects.all():
        now = (
            PointValue.objects.filter(program=program, effective_from__lte=timezone.now())
            .order_by("-effective_from")
            .first()
        )
        if now is not None:
            program.point_value = now.value
            program.save(update_fields=["point_value"])


def build_liability_rollup(apps, schema_editor):
    """The roll-up of the ledger as it is, grouped as rewards.services.liability groups it (kept here as it was
    when this migration was written, so that later changes to the services cannot change what it does)."""
    PointsEntry = apps.get_model("rewards", "PointsEntry")
    PointValue = apps.get_model("rewards", "PointValue")
    StoreMonthPoints = apps.get_model("rewards", "StoreMonthPoints")
    if not PointsEntry.objects.exists():
        return
    versions = list(PointValue.objects.filter(program__is_default=True).order_by("effective_from"))
    value = Case(
        *[When(effective_at__gte=v.effective_from, then=Value(v.pk)) for v in reversed(versions[1:])],
        default=Value(versions[0].pk),
        output_field=IntegerField(),
    )
    store = Coalesce(
        F("transaction__store_id"),
        Case(
            When(kind="redemption", corrects__isnull=True, then=Cast(KeyTextTransform("store", "facts"), IntegerField())),
            When(kind="redemption", then=Cast(KeyTextTransform("store", F("corrects__facts")), IntegerField())),
            default=None,
            output_field=IntegerField(),
        ),
        Value(0),
        output_field=IntegerField(),
    )
    rows = (
        PointsEntry.objects.order_by()
        .annotate(
            entry_month=TruncMonth(
                "effective_at", tzinfo=timezone.get_default_timezone(), output_field=models.DateField()
            ),
            entry_store=store,
            entry_value=value,
        )
        .values("entry_month", "entry_store", "kind", "entry_value")
        .annotate(entry_points=Sum("points"), entry_count=Count("id"))
    )
    StoreMonthPoints.objects.bulk_create(
        StoreMonthPoints(
            month=row["entry_month"],
            store_key=row["entry_store"],
            kind=row["kind"],
            point_value_id=row["entry_value"],
            points=row["entry_points"],
            entries=row["entry_count"],
        )
        for row in rows.iterator()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0014_task_queue_tables"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PointValue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("effective_from", models.DateTimeField()),
                ("value", models.DecimalField(decimal_places=4, max_digits=10)),
                ("note", models.CharField(blank=True, max_length=200)),
                ("set_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "program",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="point_values", to="rewards.program"
                    ),
                ),
                (
                    "set_by",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["program", "effective_from"],
            },
        ),
        migrations.AddConstraint(
            model_name="pointvalue",
            constraint=models.UniqueConstraint(fields=("program", "effective_from"), name="pointvalue_unique_start"),
        ),
        migrations.AddConstraint(
            model_name="pointvalue",
            constraint=models.CheckConstraint(condition=models.Q(("value__gt", 0)), name="pointvalue_positive"),
        ),
        migrations.RunPython(copy_point_values, restore_point_values),
        migrations.RemoveField(
            model_name="program",
            name="point_value",
        ),
        migrations.CreateModel(
            name="StoreMonthPoints",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="First day of the calendar month.")),
                ("store_key", models.PositiveIntegerField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("earn", "Earned"),
                            ("reversal", "Reversed (refund)"),
                            ("bonus", "Bonus"),
                            ("redemption", "Redeemed"),
                            ("expiry", "Expired"),
                            ("adjustment", "Adjustment"),
                        ],
                        max_length=12,
                    ),
                ),
                ("points", models.BigIntegerField(default=0)),
                ("entries", models.IntegerField(default=0)),
                (
                    "point_value",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rewards.pointvalue",
                    ),
                ),
            ],
            options={
                "verbose_name": "store month of points",
                "verbose_name_plural": "store months of points (liability roll-up)",
            },
        ),
        migrations.CreateModel(
            name="BreakageEstimate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "effective_month",
                    models.DateField(help_text="First day of the first month the estimate applies to."),
                ),
                (
                    "rate",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text="Percent of points expected never to be used.",
                        max_digits=5,
                        null=True,
                    ),
                ),
                ("reason", models.CharField(max_length=200)),
                ("set_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "program",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="breakage_estimates",
                        to="rewards.program",
                    ),
                ),
                (
                    "set_by",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["program", "effective_month"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("program", "effective_month"), name="breakageestimate_one_per_month"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("rate__isnull", True), models.Q(("rate__gte", 0), ("rate__lte", 99)), _connector="OR"
                        ),
                        name="breakageestimate_rate_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("reason", ""), _negated=True), name="breakageestimate_has_reason"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="MonthClose",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="First day of the closed month.")),
                ("closed_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("figures", models.JSONField(default=dict)),
                ("reopened_at", models.DateTimeField(blank=True, null=True)),
                ("reopen_reason", models.CharField(blank=True, max_length=300)),
                (
                    "closed_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "reopened_by",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-month", "-closed_at"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("reopened_at__isnull", True)),
                        fields=("month",),
                        name="monthclose_closed_once",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("reopened_at__isnull", True), ("reopened_by__isnull", True), ("reopen_reason", "")
                            ),
                            models.Q(
                                ("reopened_at__isnull", False),
                                ("reopened_by__isnull", False),
                                models.Q(("reopen_reason", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="monthclose_reopened_by_someone_for_a_reason",
                    ),
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="storemonthpoints",
            constraint=models.UniqueConstraint(
                fields=("month", "store_key", "kind", "point_value"), name="storemonthpoints_unique"
            ),
        ),
        migrations.RunPython(build_liability_rollup, migrations.RunPython.noop),
    ]
