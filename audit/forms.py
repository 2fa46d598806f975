"""The audit log's filter form (input validation only; the page and the export share it)."""

from __future__ import annotations

import datetime

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from audit.enums import Action

_FIRST_DAY = datetime.date(1900, 1, 1)
_LAST_DAY = datetime.date(9999, 12, 30)


class AuditFilterForm(forms.Form):
    """Filters read from the query string.

    Dates are whole days in the *current* time zone, which ``accounts.access`` sets to the
    organisation's: ``date_to`` includes the whole of that day, up to local midnight.
    """

    actor = forms.CharField(label=_("Actor"), max_length=254, required=False)
    action = forms.ChoiceField(label=_("Action"), required=False)
    target = forms.CharField(label=_("Target"), max_length=300, required=False)
    date_from = forms.DateField(
        label=pgettext_lazy("date range", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=pgettext_lazy("date range", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, data=None, *, present_actions=(), **kwargs):
        super().__init__(data, **kwargs)
        choices = [("", _("All actions")), *Action.choices]
        known = set(Action.values)
        # Actions written before they were named in Action (or by a removed feature) must
        # stay findable, shown by their code.
        choices += [(code, code) for code in sorted(set(present_actions) - known)]
        self.fields["action"].choices = choices

    def _clean_day(self, name):
        day = self.cleaned_data.get(name)
        # The bounds become aware datetimes shifted by up to a day of UTC offset;
        # dates at the very ends of the calendar would overflow (a 500) instead of
        # meaning anything.
        if day is not None and not (_FIRST_DAY <= day <= _LAST_DAY):
            raise forms.ValidationError(
                _("Enter a date between %(first)s and %(last)s."),
                params={"first": _FIRST_DAY.isoformat(), "last": _LAST_DAY.isoformat()},
                code="out_of_range",
            )
        return day

    def clean_date_from(self):
        return self._clean_day("date_from")

    def clean_date_to(self):
        return self._clean_day("date_to")

    def clean(self):
        data = super().clean()
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filter(self, queryset):
        """``queryset`` narrowed by the (valid) filters."""
        data = self.cleaned_data
        if data.get("actor"):
            queryset = queryset.filter(actor_label__icontains=data["actor"])
        if data.get("action"):
            queryset = queryset.filter(action=data["action"])
        if data.get("target"):
            queryset = queryset.filter(
                Q(target_type__icontains=data["target"]) | Q(target_label__icontains=data["target"])
            )
        if data.get("date_from"):
            queryset = queryset.filter(created_at__gte=_local_midnight(data["date_from"]))
        if data.get("date_to"):
            next_day = data["date_to"] + datetime.timedelta(days=1)
            queryset = queryset.filter(created_at__lt=_local_midnight(next_day))
        return queryset

    def active_filters(self) -> dict[str, str]:
        """The filters in use, as text (what an export records about itself)."""
        return {
            name: value.isoformat() if isinstance(value, datetime.date) else str(value)
            for name, value in self.cleaned_data.items()
            if value not in (None, "")
        }


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())
