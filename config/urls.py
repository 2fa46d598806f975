from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView

from accounts import token_pages
from accounts.api.docs import ApiDocsView
from campaigns import api as campaigns_api
from config import health
from contacts import api as contacts_api
from delivery import api as delivery_api
from segments import api as segments_api

# A URL under /api/ that matches nothing answers in the API's JSON error shape.
handler404 = "accounts.api.errors.not_found"

# Platform operators reach the Django admin only with a verified second factor.
admin.site.__class__ = OTPAdminSite

urlpatterns = [
    path("", include("accounts.urls")),
    path("o/<slug:org_slug>/audit/", include("audit.urls")),
    path("o/<slug:org_slug>/segments/", include("segments.urls")),
    path("o/<slug:org_slug>/alerts/", include("audit.alerts")),
    path("o/<slug:org_slug>/contacts/", include("contacts.urls")),
    path("o/<slug:org_slug>/campaigns/", include("campaigns.urls")),
    path("o/<slug:org_slug>/sending/", include("delivery.org_urls")),
    path("platform/", include("delivery.urls")),
    path("", include("delivery.public_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    # The REST API (docs/api.md): bearer tokens, made on the organisation's tokens page.
    path("o/<slug:org_slug>/tokens/", include((token_pages.urlpatterns, "api_tokens"))),
    path(
        "api/v1/",
        include(
            (
                contacts_api.urlpatterns
                + segments_api.urlpatterns
                + campaigns_api.urlpatterns
                + delivery_api.urlpatterns,
                "api",
            )
        ),
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api_schema"), name="api_docs"),
]
