"""Create the default store, used by imports that name no store and by the till until staff pick one."""

from django.db import migrations


def create_default_store(apps, schema_editor):
    Store = apps.get_model("transactions", "Store")
    if not Store.objects.filter(is_default=True).exists():
        Store.objects.create(code="main", name="Main store", is_default=True)


def remove_default_store(apps, schema_editor):
    Store = apps.get_model("transactions", "Store")
    Store.objects.filter(code="main", is_default=True, transactions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("transactions", "0001_initial")]

    operations = [migrations.RunPython(create_default_store, remove_default_store)]
