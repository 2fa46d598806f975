"""The operation log: append-only, and hash-chained per organisation.

Each organisation's entries form one chain (``chain = "org:<id>"``); entries with no
organisation (a failed login for an unknown address, platform operations) form the
``"platform"`` chain. An entry's ``hash`` is an HMAC-SHA256, keyed by
``settings.AUDIT_CHAIN_KEY``, over its own fields and the previous entry's hash, so an
altered, inserted or removed entry breaks the chain, and someone with write access to
the database alone cannot re-forge it. The database refuses UPDATE and DELETE on these
tables (triggers in migration 0002); the model refuses them too.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove an audit entry."""


class AuditEntryQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)

    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit entries are append-only.")


class AuditEntry(models.Model):
    chain = models.CharField(max_length=40, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(_("actor"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=300, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")


class AuditChainHead(models.Model):
    """The last sequence number and hash of each chain.

    Locked (``SELECT ... FOR UPDATE``) while an entry is appended, so concurrent writers
    extend the chain one at a time; also lets the verifier notice a removed last entry.
    """

    chain = models.CharField(max_length=40, unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"{self.chain}@{self.seq}"
