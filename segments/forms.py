"""Input validation for the segment page (the rules come from ``segments.builder``)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Who this segment is for, in a sentence (shown to approvers)."),
    )
