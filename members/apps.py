from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members' side"

    def ready(self) -> None:
        # The member emails that follow what happened: subscribers of the events outbox.
        from . import subscribers

        subscribers.register()
