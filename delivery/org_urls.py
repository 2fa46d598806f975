"""The organisation's sending pages, under ``/o/<org_slug>/sending/`` (namespace
``sending``)."""

from django.urls import path

from delivery import org_views

app_name = "sending"
urlpatterns = [
    path("domains/", org_views.domain_list, name="domains"),
    path("domains/add/", org_views.domain_add, name="domain_add"),
    path("domains/<int:domain_id>/", org_views.domain_detail, name="domain_detail"),
    path("domains/<int:domain_id>/verify/", org_views.domain_verify, name="domain_verify"),
    path("domains/<int:domain_id>/remove/", org_views.domain_remove, name="domain_remove"),
    path("relays/", org_views.relay_list, name="relays"),
    path("relays/add/", org_views.relay_add, name="relay_add"),
    path("relays/<int:relay_id>/", org_views.relay_edit, name="relay_edit"),
    path("relays/<int:relay_id>/test/", org_views.relay_test, name="relay_test"),
    path("relays/<int:relay_id>/remove/", org_views.relay_remove, name="relay_remove"),
    path(
        "campaigns/<int:campaign_id>/progress/",
        org_views.campaign_progress,
        name="campaign_progress",
    ),
    path(
        "campaigns/<int:campaign_id>/report.csv",
        org_views.campaign_report_csv,
        name="campaign_report_csv",
    ),
    path("prospects/", org_views.prospects, name="prospects"),
]
