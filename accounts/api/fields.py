"""Small input helpers every ``api.py`` uses."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from rest_framework import serializers

BIGINT_MAX = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    """An object id: positive and within what the database's ids can hold."""
    return serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, **kwargs)


def no_nul(value):
    """JSON values are stored in PostgreSQL ``jsonb``, which cannot hold NUL."""
    if "\\u0000" in json.dumps(value):
        raise serializers.ValidationError("NUL characters are not allowed.")
    return value


def valid(serializer_class, data, **kwargs) -> dict:
    """``serializer_class(data=data).validated_data``, or a 400 with per-field messages."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrganizationDateTimeField(serializers.DateTimeField):
    """ISO 8601; a time without an offset is in the organisation's time zone (as on the
    pages). Answers in UTC."""

    def default_timezone(self):
        request = self.context.get("request")
        organization = getattr(request, "organization", None)
        return ZoneInfo(organization.time_zone) if organization else super().default_timezone()

    def to_representation(self, value):
        if value is None:
            return None
        return super().to_representation(value.astimezone(ZoneInfo("UTC")))
