from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    MARKETER = "marketer", _("Marketer")
    APPROVER = "approver", _("Approver")
    VIEWER = "viewer", _("Viewer")
