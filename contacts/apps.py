from django.apps import AppConfig

# Models audit.apps registered with django-auditlog (as every tenant model) that contacts
# takes out again, each for a reason:
# - ImportJob: the job's outcome is audited explicitly (Action.CONTACTS_IMPORTED with
#   file name and counts); auditlog would re-read the whole row (a file of up to
#   200 MB) before every status change, and copy the personal data into its log.
# - ListMembership, ContactTag, ContactEvent: link and history rows, written by the
#   million by imports; their changes are recorded as ContactEvent rows and audit
#   entries. Logging each again would also stop Django from deleting them in one
#   statement (it must load every row to send the signals).
_NOT_IN_AUDITLOG = ("ImportJob", "ListMembership", "ContactTag", "ContactEvent")


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        for name in _NOT_IN_AUDITLOG:
            model = self.get_model(name)
            if auditlog.contains(model):
                auditlog.unregister(model)
