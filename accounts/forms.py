from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts.enums import Role
from accounts.models import Organization
from accounts.services import POLICY_FIELDS


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autofocus": True})
    )


def lockout_username(request, credentials: dict | None = None) -> str | None:
    """The account a login attempt is for, as django-axes counts failures against it
    (``AXES_USERNAME_CALLABLE``).

    Logging in ignores the case of the address (``UserManager.get_by_natural_key``), so
    the lockout must too: otherwise ``Admin@...``, ``ADMIN@...`` and so on would each get
    their own allowance of failures against one account.
    """
    if credentials:
        raw = credentials.get("username")
    else:
        raw = getattr(request, "POST", {}).get("username")
    if not isinstance(raw, str):
        return raw
    return raw.strip().lower()


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = list(POLICY_FIELDS)
        widgets = {"ip_allowlist": forms.Textarea(attrs={"rows": 4})}


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=200, required=False)
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return data
