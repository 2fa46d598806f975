from django.urls import path

from contacts import views

app_name = "contacts"
urlpatterns = [
    path("", views.contact_list, name="list"),
    path("new/", views.contact_create, name="create"),
    path("<int:contact_id>/", views.contact_detail, name="detail"),
    path("<int:contact_id>/edit/", views.contact_edit, name="edit"),
    path("<int:contact_id>/delete/", views.contact_delete, name="delete"),
    path("<int:contact_id>/suppress/", views.contact_suppress, name="suppress"),
    path("lists/", views.lists, name="lists"),
    path("lists/<int:list_id>/", views.list_detail, name="list_detail"),
    path("lists/<int:list_id>/edit/", views.list_edit, name="list_edit"),
    path("lists/<int:list_id>/delete/", views.list_delete, name="list_delete"),
    path("lists/<int:list_id>/access/", views.list_grants, name="list_grants"),
    path("fields/", views.fields, name="fields"),
    path("fields/<int:field_id>/", views.field_edit, name="field_edit"),
    path("suppressions/", views.suppressions, name="suppressions"),
    path(
        "suppressions/<int:suppression_id>/lift/", views.suppression_lift, name="suppression_lift"
    ),
    path("imports/", views.imports, name="imports"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/progress/", views.import_progress, name="import_progress"),
    path("imports/<int:import_id>/confirm/", views.import_confirm, name="import_confirm"),
    path("imports/<int:import_id>/requeue/", views.import_requeue, name="import_requeue"),
    path("imports/<int:import_id>/report.csv", views.import_report, name="import_report"),
    path("export/", views.export, name="export"),
]
