"""Forms of the staff customer pages. Thin: the rewards service decides whether a bonus may be given."""

from django import forms

from rewards.kinds import ReferralBonus
from rewards.services.bonuses import bonus_action_choices


class AwardBonusForm(forms.Form):
    action = forms.ChoiceField(choices=bonus_action_choices, label="Bonus")
    referred = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Referred member (referral bonus)",
        empty_label="Only for the referral bonus",
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["referred"].queryset = customer.referrals.order_by("member_number")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == ReferralBonus.key and not cleaned.get("referred"):
            self.add_error("referred", "Choose the member they referred.")
        return cleaned


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label="Points", help_text="Positive to add, negative to deduct.", min_value=-10_000_000, max_value=10_000_000
    )
    reason = forms.CharField(label="Reason", max_length=200)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError("An adjustment moves at least one point.")
        return points


class ContactForm(forms.Form):
    """A member's contact details as staff correct them at the till; the service checks and records them."""

    name = forms.CharField(label="Name", max_length=200, error_messages={"required": "Type the member's name."})
    phone = forms.CharField(
        label="Phone",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        help_text="Any way it is written; stored as one number. Leave blank for none.",
    )
    email = forms.EmailField(
        label="Email", required=False, error_messages={"invalid": "Email must look like name@example.com."}
    )
