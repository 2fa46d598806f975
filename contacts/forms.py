"""Input validation only; the rules are in contacts.services / importing / exporting."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.enums import Role
from contacts import csvfiles
from contacts.enums import ConsentMethod, ContactStatus, FieldType, SuppressionReason
from contacts.exporting import ENCODINGS
from contacts.importing.rows import split_tags as _split_tags
from contacts.services import GRANT_EDIT, GRANT_NONE, GRANT_VIEW

TAG_HELP = _("Separate tags with commas.")


def split_tags(text: str) -> list[str]:
    return _split_tags(text or "")


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    list = forms.TypedChoiceField(label=_("List"), required=False, coerce=int, empty_value=None)
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *ContactStatus.choices],
    )

    def __init__(self, *args, lists=(), tags=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["list"].choices = [("", _("All lists")), *((cl.pk, cl.name) for cl in lists)]
        self.fields["tag"].choices = [("", _("Any tag")), *((t, t) for t in tags)]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "query": data.get("q") or "",
            "list_id": data.get("list"),
            "tag": data.get("tag") or "",
            "status": data.get("status") or "",
        }


class ContactForm(forms.Form):
    email = forms.CharField(label=_("E-mail address"), max_length=320)
    last_name = forms.CharField(label=_("Last name"), max_length=200, required=False)
    first_name = forms.CharField(label=_("First name"), max_length=200, required=False)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    tags = forms.CharField(label=_("Tags"), required=False, help_text=TAG_HELP)
    lists = forms.ModelMultipleChoiceField(
        label=_("Lists"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    consent_method = forms.ChoiceField(
        label=_("Consent obtained through"), choices=ConsentMethod.choices
    )
    consent_evidence = forms.CharField(
        label=_("Evidence of consent"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The form wording, or where the address was published."),
    )

    def __init__(self, *args, lists, custom_fields, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"].queryset = lists
        self.custom_fields = list(custom_fields)
        for field in self.custom_fields:
            self.fields[f"attr_{field.key}"] = _attribute_field(field)

    def attributes(self) -> dict:
        return {f.key: self.cleaned_data.get(f"attr_{f.key}") or "" for f in self.custom_fields}

    def attribute_fields(self):
        return [self[f"attr_{f.key}"] for f in self.custom_fields]


def _attribute_field(field) -> forms.Field:
    label = field.label
    if field.field_type == FieldType.DATE:
        return forms.CharField(
            label=label, required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
    if field.field_type == FieldType.BOOLEAN:
        return forms.ChoiceField(
            label=label, required=False, choices=[("", "—"), ("yes", _("Yes")), ("no", _("No"))]
        )
    if field.field_type == FieldType.CHOICE:
        return forms.ChoiceField(
            label=label, required=False, choices=[("", "—"), *((c, c) for c in field.choices)]
        )
    return forms.CharField(label=label, required=False, max_length=1000)


class ListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    is_restricted = forms.BooleanField(
        label=_("Restricted: only admins and people granted access may see its contacts"),
        required=False,
    )


class GrantForm(forms.Form):
    member = forms.IntegerField(widget=forms.HiddenInput)
    level = forms.ChoiceField(
        label=_("Access"),
        choices=[
            (GRANT_NONE, _("No access")),
            (GRANT_VIEW, _("View")),
            (GRANT_EDIT, _("View and edit")),
        ],
    )


class RoleGrantForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    level = GrantForm.base_fields["level"]


class CustomFieldForm(forms.Form):
    key = forms.SlugField(
        label=_("Key"),
        max_length=50,
        help_text=_("Letters, digits, - and _. Used in CSV headers; cannot be changed later."),
    )
    label = forms.CharField(label=_("Label"), max_length=100)
    field_type = forms.ChoiceField(label=_("Type"), choices=FieldType.choices)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For a choice field: one choice per line."),
    )

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("choices", "").splitlines()]


class CustomFieldEditForm(forms.Form):
    label = CustomFieldForm.base_fields["label"]
    choices = CustomFieldForm.base_fields["choices"]

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("choices", "").splitlines()]


class SuppressForm(forms.Form):
    address = forms.CharField(label=_("E-mail address"), max_length=320)
    reason = forms.ChoiceField(
        label=_("Reason"), choices=SuppressionReason.choices, initial=SuppressionReason.MANUAL
    )


class LiftForm(forms.Form):
    reason = forms.CharField(
        label=_("Why may this address receive mail again?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
    )


class UploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))


class MappingForm(forms.Form):
    """One target per column, plus reading settings, list and consent."""

    encoding = forms.ChoiceField(label=_("Character encoding"), choices=csvfiles.ENCODING_CHOICES)
    delimiter = forms.ChoiceField(label=_("Delimiter"), choices=csvfiles.DELIMITER_CHOICES)
    has_header = forms.BooleanField(label=_("The first row is a header"), required=False)
    contact_list = forms.TypedChoiceField(
        label=_("Add to list"), required=False, coerce=int, empty_value=None
    )
    new_list = forms.CharField(label=_("or a new list named"), required=False, max_length=200)
    consent_method = forms.ChoiceField(
        label=_("These people consented through"), choices=ConsentMethod.choices
    )

    def __init__(self, *args, columns, targets, lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        encodings = dict(csvfiles.ENCODING_CHOICES)
        initial_encoding = self.initial.get("encoding")
        if initial_encoding and initial_encoding not in encodings:
            self.fields["encoding"].choices = [
                (initial_encoding, initial_encoding),
                *csvfiles.ENCODING_CHOICES,
            ]
        self.fields["contact_list"].choices = [("", "—"), *((cl.pk, cl.name) for cl in lists)]
        for index, name in enumerate(columns):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=name, choices=targets, required=False
            )

    def column_fields(self):
        return [self[f"col_{i}"] for i in range(len(self.columns))]

    def mapping(self) -> dict[str, str]:
        return {str(i): self.cleaned_data.get(f"col_{i}") or "" for i in range(len(self.columns))}


class ExportForm(forms.Form):
    q = forms.CharField(required=False, widget=forms.HiddenInput)
    list = forms.IntegerField(required=False, widget=forms.HiddenInput)
    tag = forms.CharField(required=False, widget=forms.HiddenInput)
    status = forms.CharField(required=False, widget=forms.HiddenInput)
    encoding = forms.ChoiceField(label=_("Encoding"), choices=[*ENCODINGS.items()])

    def filters(self) -> dict:
        data = self.cleaned_data
        return {
            "query": data.get("q") or "",
            "list_id": data.get("list"),
            "tag": data.get("tag") or "",
            "status": data.get("status") or "",
        }
