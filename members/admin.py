"""The members' records in the admin: read-only, for looking up (changes go through the product's pages)."""

from django.contrib import admin

from rewards.admin import ReadOnlyAdmin as ReadOnly

from .models import Feedback, MailChoice, MemberSettings, Membership, SentMail


@admin.register(Membership)
class MembershipAdmin(ReadOnly):
    list_display = ["customer", "email_confirmed_at", "joined_online_at", "card_key_issued_at", "erased_at"]
    list_select_related = ["customer"]
    search_fields = ["customer__member_number", "referral_code"]
    exclude = ["card_key_hash"]


@admin.register(MailChoice)
class MailChoiceAdmin(ReadOnly):
    """The record of consent: who agreed to which email, when, with which words (and who withdrew)."""

    list_display = ["customer", "kind", "subscribed", "at", "source"]
    list_filter = ["kind", "subscribed", "source"]
    list_select_related = ["customer"]
    search_fields = ["customer__member_number"]


@admin.register(SentMail)
class SentMailAdmin(ReadOnly):
    list_display = ["customer", "kind", "key", "sent_at"]
    list_filter = ["kind"]
    list_select_related = ["customer"]
    search_fields = ["customer__member_number"]


@admin.register(Feedback)
class FeedbackAdmin(ReadOnly):
    list_display = ["answered_at", "customer", "score", "comment"]
    list_filter = ["score"]
    list_select_related = ["customer"]
    date_hierarchy = "answered_at"


@admin.register(MemberSettings)
class MemberSettingsAdmin(ReadOnly):
    list_display = ["program", "join_open", "feedback_interval_days", "changed_by", "changed_at"]
