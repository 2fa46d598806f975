"""Segments: saved rule trees over an organisation's contacts.

Thin on purpose: the schema of ``rules`` is ``segments.rules``, its compilation
``segments.compiler``, and every change goes through ``segments.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.querysets import AuditedQuerySet


def empty_rules() -> dict:
    return {"match": "all", "rules": []}


class Segment(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # The canonical tree (segments.rules.validate_rules): what campaigns hash.
    rules = models.JSONField(_("rules"), default=empty_rules)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = [Lower("name")]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"), Lower("name"), name="segment_name_ci_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name
