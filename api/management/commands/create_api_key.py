"""`manage.py create_api_key --name NAME --role staff|manager [--store CODE]`: prints the new key once."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from transactions.models import Store

from ...keys import create_api_key
from ...models import ApiKey


class Command(BaseCommand):
    help = "Create an API key and print it (once: only a hash of it is kept)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="What will use the key, e.g. 'Web shop'.")
        parser.add_argument("--role", required=True, choices=ApiKey.Role.values, help="The key's rights.")
        parser.add_argument("--store", help="A store's code: the key records at that store only.")

    def handle(self, *args, name: str, role: str, store: str | None, **options) -> None:
        bound = None
        if store:
            bound = Store.objects.filter(code=store).first()
            if bound is None:
                known = ", ".join(Store.objects.order_by("code").values_list("code", flat=True))
                raise CommandError(f"No store has the code {store!r}. Stores: {known}.")
        try:
            new = create_api_key(name=name, role=role, store=bound)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        where = f"at {bound.name} only" if bound else "at any store"
        self.stderr.write(
            f"API key {new.api_key.name} ({new.api_key.get_role_display().lower()}'s rights, {where}). "
            "Copy it now: it is not shown again."
        )
        self.stdout.write(new.secret)
