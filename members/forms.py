"""The members' forms (join, sign-in, email settings, the survey) and the staff's (erase, the switches)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.phones import normalise_phone

from .models import MailKind
from .services.mail import MAILS, NEWS_KINDS, NEWS_WORDING

SCORES = [(str(score), str(score)) for score in range(11)]


class JoinForm(forms.Form):
    name = forms.CharField(
        label="Your name", max_length=200, error_messages={"required": "Enter your name."},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )  # fmt: skip
    email = forms.EmailField(
        label="Email", help_text="We send a link to confirm it: your card is ready when you open it.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )  # fmt: skip
    phone = forms.CharField(
        label="Phone (optional)", max_length=32, required=False,
        help_text="So staff can find you at the till by your number.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )  # fmt: skip
    birthday = forms.DateField(
        label="Birthday (optional)", required=False, help_text="For a birthday treat, if the shop gives one.",
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
    )  # fmt: skip
    news = forms.BooleanField(label=NEWS_WORDING, required=False)
    points_after_purchase = forms.BooleanField(label=MAILS[MailKind.POINTS_EARNED].wording, required=False)
    ref = forms.CharField(required=False, max_length=16, widget=forms.HiddenInput)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter your name.")
        return name

    def clean_phone(self):
        try:
            return normalise_phone(self.cleaned_data["phone"])
        except ValidationError as refusal:
            raise ValidationError(refusal.message_dict["phone"]) from None

    def clean_birthday(self):
        birthday = self.cleaned_data["birthday"]
        if birthday is not None and not dt.date(1900, 1, 1) <= birthday <= timezone.localdate():
            raise forms.ValidationError("Enter a birthday between 1900 and today, or leave it empty.")
        return birthday

    def mail_kinds(self) -> tuple[list[str], dict[str, str]]:
        """The kinds consented to, and the words shown beside each box ticked (recorded with the consent)."""
        kinds, wording = [], {}
        if self.cleaned_data.get("news"):
            for kind in NEWS_KINDS:
                kinds.append(kind.value)
                wording[kind.value] = NEWS_WORDING
        if self.cleaned_data.get("points_after_purchase"):
            kinds.append(MailKind.POINTS_EARNED.value)
            wording[MailKind.POINTS_EARNED.value] = MAILS[MailKind.POINTS_EARNED].wording
        return kinds, wording


class EmailForm(forms.Form):
    email = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))


# The kinds a member switches on the card: all but the welcome, which is sent once, when they join.
SWITCHABLE = [kind for kind, mail in MAILS.items() if mail.needs_consent]


class PreferencesForm(forms.Form):
    def __init__(self, *args, choices: dict[str, bool], **kwargs):
        super().__init__(*args, **kwargs)
        for kind in SWITCHABLE:
            self.fields[kind] = forms.BooleanField(label=MAILS[kind].wording, required=False, initial=choices[kind])


class FeedbackForm(forms.Form):
    score = forms.TypedChoiceField(
        label="How likely are you to recommend us to a friend?",
        choices=SCORES, coerce=int, widget=forms.RadioSelect,
        error_messages={
            "required": "Choose a score from 0 (not at all likely) to 10 (extremely likely).",
            "invalid_choice": "Choose a score from 0 (not at all likely) to 10 (extremely likely).",
        },
    )  # fmt: skip
    comment = forms.CharField(
        label="Anything you would like to tell us? (optional)", required=False, max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip


class EraseForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=200,
        help_text="E.g. “member's request by email, 2026-03-04”. Do not write the person's name: it is kept.",
    )  # fmt: skip
    confirm = forms.CharField(label="Type the member number to confirm", max_length=32)

    def __init__(self, *args, member_number: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.member_number = member_number

    def clean_confirm(self):
        typed = self.cleaned_data["confirm"].strip()
        if typed != self.member_number:
            raise forms.ValidationError(f"Type the member number {self.member_number} exactly to erase this member.")
        return typed


class MemberSettingsForm(forms.Form):
    join_open = forms.BooleanField(label="Visitors may join online at /join/", required=False)
    feedback_interval_days = forms.IntegerField(
        label="Ask a member for feedback at most once in (days)", min_value=1, max_value=3650
    )
    mail_on = forms.MultipleChoiceField(
        label="Emails the program sends (members still choose theirs)",
        choices=MailKind.choices, required=False, widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
