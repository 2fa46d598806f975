from __future__ import annotations

from django.db import models


class TenantQuerySet(models.QuerySet):
    """Base queryset for tenant-owned rows: always reach them through an organisation."""

    def for_organization(self, organization):
        return self.filter(organization=organization)
