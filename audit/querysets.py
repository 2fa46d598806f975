"""Bulk writes on audited models record their own audit entries.

django-auditlog follows ``save()`` and ``delete()`` through signals, but ``update()``,
``bulk_create()`` and ``bulk_update()`` send none. Tenant models use this queryset so
those writes still leave one entry per organisation, with the model, count and fields.
"""

from __future__ import annotations

from collections import Counter

from django.apps import apps
from django.db.models import Count

from accounts.querysets import TenantQuerySet


def _org_key(model) -> str:
    return "pk" if model._meta.label == "accounts.Organization" else "organization_id"


def _record_bulk(action: str, model, counts: Counter, **details) -> None:
    from audit.services import record

    organizations = apps.get_model("accounts", "Organization").objects.in_bulk(
        [org_id for org_id in counts if org_id is not None]
    )
    # Chain heads are locked in a fixed order (organisation id, platform last) so that
    # concurrent multi-organisation writes cannot deadlock on each other.
    for org_id, count in sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        record(
            action,
            actor=None,
            organization=organizations.get(org_id),
            model=model._meta.label_lower,
            count=count,
            **details,
        )


class AuditedQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        key = _org_key(self.model)
        rows = self.order_by().values(key).annotate(n=Count("pk"))
        per_org = Counter({row[key]: row["n"] for row in rows})
        updated = super().update(**kwargs)
        if updated:
            _record_bulk("bulk_update", self.model, per_org, fields=sorted(kwargs))
        return updated

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        key = _org_key(self.model)
        counts = Counter(getattr(obj, key, None) for obj in created)
        if counts:
            _record_bulk("bulk_create", self.model, counts)
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        updated = super().bulk_update(objs, fields, *args, **kwargs)
        key = _org_key(self.model)
        counts = Counter(getattr(obj, key, None) for obj in objs)
        if updated:
            _record_bulk("bulk_update", self.model, counts, fields=sorted(fields))
        return updated
