"""The ledger stops storing what it can derive: an earn entry's explanation and band/promotion detail are
rendered from its rule version, its purchase's amount and its stored facts (context, tier multiplier).

`explanation` becomes `note` (the written account of the entries whose account cannot be derived) and
`detail` becomes `facts` (what history needs); existing earn entries keep only their context and tier
multiplier. Backwards, the earn entries' explanations and details are rendered again and stored.
"""

from decimal import Decimal

from django.db import migrations

# The keys of an earn entry's old `detail` that are derived from its rule version, amount and context.
DERIVED = ("amount", "points", "parts", "promotions", "below_minimum")


def keep_only_facts(apps, schema_editor):
    table = schema_editor.quote_name(apps.get_model("rewards", "PointsEntry")._meta.db_table)
    if schema_editor.connection.vendor == "postgresql":
        removed = "ARRAY[" + ", ".join(f"'{key}'" for key in DERIVED) + "]::text[]"
        sql = f"UPDATE {table} SET note = '', facts = facts - {removed} WHERE kind = 'earn'"  # noqa: S608
    else:
        removed = ", ".join(f"'$.{key}'" for key in DERIVED)
        sql = f"UPDATE {table} SET note = '', facts = json_remove(facts, {removed}) WHERE kind = 'earn'"  # noqa: S608
    schema_editor.execute(sql)


def render_explanations(apps, schema_editor):
    # The engine is pure Python: the same arithmetic the entries were written with.
    from rewards import engine

    PointsEntry = apps.get_model("rewards", "PointsEntry")
    rules = {}
    entries = PointsEntry.objects.filter(kind="earn").select_related("transaction", "rule_version")
    changed = []
    for entry in entries.iterator(chunk_size=2000):
        rule = rules.get(entry.rule_version_id)
        if rule is None:
            rule = rules[entry.rule_version_id] = engine.Rule.from_dict(entry.rule_version.rule)
        context = engine.Context.from_dict(entry.facts.get("context"))
        multiplier = Decimal(entry.facts.get("tier_multiplier", "1"))
        earning = engine.earn(entry.transaction.amount, rule, tier_multiplier=multiplier, **context.arguments())
        entry.note = earning.explain()
        entry.facts = earning.as_dict() | ({"context": entry.facts["context"]} if "context" in entry.facts else {})
        changed.append(entry)
        if len(changed) >= 2000:
            PointsEntry.objects.bulk_update(changed, ["note", "facts"])
            changed = []
    PointsEntry.objects.bulk_update(changed, ["note", "facts"])


class Migration(migrations.Migration):
    dependencies = [("rewards", "0009_tiers_customer_tiers_and_reward_min_tier")]

    operations = [
        migrations.RenameField("pointsentry", "explanation", "note"),
        migrations.RenameField("pointsentry", "detail", "facts"),
        migrations.RunPython(keep_only_facts, render_explanations),
    ]
