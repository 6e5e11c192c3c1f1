from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm, UsernameField

from transactions.models import Store

from .roles import Role

User = get_user_model()


def _stores():
    return Store.objects.filter(is_active=True).order_by("name")


class AccountForm(forms.Form):
    """A new account. Managers see no role: what they create is store staff, whatever is posted."""

    username = UsernameField(max_length=150, help_text="What they type to sign in.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, help_text="For password reset by email.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STORE_STAFF)
    till_store = forms.ModelChoiceField(queryset=Store.objects.none(), required=False, empty_label="The default store")
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, owner: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["till_store"].queryset = _stores()
        if not owner:
            del self.fields["role"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("An account with this username already exists.")
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return cleaned

    def chosen_role(self) -> Role:
        """Store staff unless an owner chose otherwise (managers' forms have no role field)."""
        return Role(self.cleaned_data.get("role") or Role.STORE_STAFF)


class TillStoreForm(forms.Form):
    till_store = forms.ModelChoiceField(queryset=Store.objects.none(), empty_label=None, label="Till store")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["till_store"].queryset = _stores()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class NewPasswordForm(SetPasswordForm):
    """Django's own form (the password twice, the validators); accounts.services.set_password saves it."""


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*", "autofocus": True}
        ),
    )

    def clean_code(self):
        code = self.cleaned_data["code"].strip().replace(" ", "")
        if not (code.isascii() and code.isdigit() and len(code) == 6):
            raise forms.ValidationError("Type the six digits your authenticator app shows.")
        return code
