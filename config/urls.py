from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language
from django_otp.admin import OTPAdminSite

from config import health

# Platform operators reach the Django admin only with a verified second factor.
admin.site.__class__ = OTPAdminSite

urlpatterns = [
    path("", include("accounts.urls")),
    path("o/<slug:org_slug>/audit/", include("audit.urls")),
    path("o/<slug:org_slug>/contacts/", include("contacts.urls")),
    path("o/<slug:org_slug>/campaigns/", include("campaigns.urls")),
    path("platform/", include("delivery.urls")),
    path("", include("delivery.public_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
]
