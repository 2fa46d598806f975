"""The API tokens page (``/o/<slug>/tokens/``): list, make (the secret is shown once, in
the answer to the POST, never stored or redirected through), revoke. Thin views onto
``accounts.tokens``; members with ``tokens.manage``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import tokens
from accounts.access import has_perm, org_view
from accounts.models import API_SCOPES
from accounts.reauth import require_recent_auth

SCOPE_LABELS = {
    "read": gettext_lazy("read: read contacts, lists, segments, campaigns and reports"),
    "write": gettext_lazy("write: create, change, delete and import"),
    "send": gettext_lazy("send: submit, approve, reject, cancel, pause, resume, test sends"),
}


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=tokens.MAX_NAME_LENGTH,
        help_text=gettext_lazy("What uses it, e.g. “CRM nightly sync”."),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=[(scope, SCOPE_LABELS[scope]) for scope in API_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    expires_in_days = forms.TypedChoiceField(
        label=gettext_lazy("Expires after"),
        coerce=int,
        # A callable: the labels are translated per request, not once at import.
        choices=lambda: [(d, _("%(n)s days") % {"n": d}) for d in tokens.EXPIRY_CHOICES_DAYS],
        initial=tokens.DEFAULT_EXPIRY_DAYS,
    )


def _page(request, form, new_token=None, status=200):
    membership = request.membership
    response = render(
        request,
        "accounts/tokens.html",
        {
            "tokens": tokens.tokens_for_member(membership),
            "form": form,
            "new_token": new_token,
            "shows_everyone": has_perm(membership, "members.manage"),
        },
        status=status,
    )
    return response


@never_cache
@org_view("tokens.manage")
def token_list(request):
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reauth = require_recent_auth(request)  # a new credential: the password again first
        if reauth is not None:
            return reauth
        try:
            token, secret = tokens.create_token(
                request.membership,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                request=request,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            # Shown in this answer only: the page is not cached and not redirected to.
            return _page(request, TokenCreateForm(), new_token={"token": token, "secret": secret})
    return _page(request, form, status=400 if form.errors else 200)


@org_view("tokens.manage")
@require_POST
def token_revoke(request, token_id):
    token = tokens.get_token_for_member(request.membership, token_id)
    tokens.revoke_token(request.membership, token, request)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("api_tokens:list", request.organization.slug)


urlpatterns = [
    path("", token_list, name="list"),
    path("<int:token_id>/revoke/", token_revoke, name="revoke"),
]
