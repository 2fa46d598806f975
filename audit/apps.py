from __future__ import annotations

from django.apps import AppConfig, apps


def tenant_models():
    """Every model that belongs to an organisation (has an ``organization`` field)."""
    found = [apps.get_model("accounts", "Organization")]
    for model in apps.get_models():
        if model._meta.app_label in {"audit", "auditlog"}:
            continue
        if any(field.name == "organization" for field in model._meta.get_fields()):
            found.append(model)
    return found


# Fields never copied into django-auditlog's change history.
SECRET_FIELDS = {"password", "last_login", "nonce", "key", "token_hash", "private_key"}


def _is_secret(name: str) -> bool:
    return name in SECRET_FIELDS or name.endswith(("_private_key", "password"))


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from audit import signals  # noqa: F401  (connects the login/logout receivers)

        for model in [*tenant_models(), apps.get_model("accounts", "User")]:
            # High-volume operational rows (one per recipient, one per open) opt out
            # with ``audit_history = False``: their story is told by the campaign-level
            # entries (dispatched, paused, sent) and by their own status columns.
            if getattr(model, "audit_history", True) is False:
                continue
            if not auditlog.contains(model):
                excluded = [f.name for f in model._meta.get_fields() if _is_secret(f.name)]
                auditlog.register(model, exclude_fields=excluded)
