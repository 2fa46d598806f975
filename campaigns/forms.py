"""Input validation only: the rules are in ``campaigns.services``."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Layout, SenderProfile
from campaigns.services import PROFILE_FIELDS, CampaignInput
from campaigns.validation import campaign_errors

CODE = {"class": "code", "spellcheck": "false", "rows": 14}


class CampaignForm(forms.ModelForm):
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_(
            "In the organisation's time zone. Empty: as soon as approved (after the undo window)."
        ),
    )

    class Meta:
        model = Campaign
        fields = (
            "name",
            "subject",
            "preheader",
            "from_name",
            "from_address",
            "reply_to",
            "layout",
            "html_body",
            "text_body",
            "include_lists",
            "exclude_lists",
            "include_segments",
            "exclude_segments",
            "send_at",
            "charset",
        )
        widgets = {
            "html_body": forms.Textarea(attrs=CODE),
            "text_body": forms.Textarea(attrs=CODE),
            "include_lists": forms.CheckboxSelectMultiple,
            "exclude_lists": forms.CheckboxSelectMultiple,
            "include_segments": forms.CheckboxSelectMultiple,
            "exclude_segments": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        from contacts.models import ContactList
        from contacts.services import visible_lists
        from segments.services import segments_for_member

        self.membership = membership
        organization_id = membership.organization_id
        self.fields["layout"].queryset = Layout.objects.for_organization(organization_id)
        self.fields["layout"].empty_label = _("No layout")
        lists = visible_lists(membership)
        segments = segments_for_member(membership)
        if self.instance.pk:
            # Keep what is already chosen even if this person cannot see it.
            chosen = {
                *self.instance.include_lists.values_list("pk", flat=True),
                *self.instance.exclude_lists.values_list("pk", flat=True),
            }
            lists = ContactList.objects.for_organization(organization_id).filter(
                Q(pk__in=lists.values("pk")) | Q(pk__in=chosen)
            )
        for name in ("include_lists", "exclude_lists"):
            self.fields[name].queryset = lists
        for name in ("include_segments", "exclude_segments"):
            self.fields[name].queryset = segments
        self.fields["html_body"].help_text = _(
            "Personalise with {{ contact.last_name }} or "
            "{{ contact.attributes.plan | default('-') }}; {{ footer }} adds the required "
            "footer with the unsubscribe link."
        )

    def clean(self):
        data = super().clean()
        probe = Campaign(organization_id=self.membership.organization_id)
        for name in ("subject", "preheader", "from_name", "from_address", "reply_to"):
            setattr(probe, name, (data.get(name) or "").strip())
        for name in ("html_body", "text_body"):
            setattr(probe, name, data.get(name) or "")
        probe.charset = data.get("charset") or probe.charset
        probe.layout = data.get("layout")
        for name, messages in campaign_errors(probe).items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return data

    def to_input(self) -> CampaignInput:
        data = self.cleaned_data
        return CampaignInput(
            name=data["name"],
            subject=data.get("subject") or "",
            preheader=data.get("preheader") or "",
            from_name=data.get("from_name") or "",
            from_address=data.get("from_address") or "",
            reply_to=data.get("reply_to") or "",
            html_body=data.get("html_body") or "",
            text_body=data.get("text_body") or "",
            layout=data.get("layout"),
            include_lists=list(data.get("include_lists") or []),
            exclude_lists=list(data.get("exclude_lists") or []),
            include_segments=list(data.get("include_segments") or []),
            exclude_segments=list(data.get("exclude_segments") or []),
            send_at=data.get("send_at"),
            charset=data.get("charset"),
        )


class LayoutForm(forms.ModelForm):
    class Meta:
        model = Layout
        fields = ("name", "html", "text")
        widgets = {"html": forms.Textarea(attrs=CODE), "text": forms.Textarea(attrs=CODE)}


class SenderProfileForm(forms.ModelForm):
    class Meta:
        model = SenderProfile
        fields = PROFILE_FIELDS
        widgets = {
            "postal_address": forms.Textarea(attrs={"rows": 3}),
            "test_addresses": forms.Textarea(attrs={"rows": 4}),
        }


class ApproveForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment (optional)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)


class RejectForm(forms.Form):
    comment = forms.CharField(
        label=_("What needs to change"), widget=forms.Textarea(attrs={"rows": 3})
    )
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)


class TestSendForm(forms.Form):
    recipients = forms.MultipleChoiceField(
        label=_("Send to"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    contact = forms.TypedChoiceField(
        label=_("Personalise for"), required=False, coerce=int, empty_value=None, choices=()
    )

    def __init__(self, *args, addresses, contacts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipients"].choices = [(a, a) for a in addresses]
        self.fields["contact"].choices = [("", _("A sample person (山田 太郎)"))] + [
            (c.pk, c.email) for c in contacts
        ]
