from django.urls import path

from contacts import views

app_name = "contacts"
urlpatterns = [
    path("", views.contact_list, name="list"),
    path("new/", views.contact_create, name="create"),
    path("<int:pk>/", views.contact_detail, name="detail"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/delete/", views.contact_delete, name="delete"),
    path("<int:pk>/suppress/", views.contact_suppress, name="suppress"),
    path("lists/", views.lists, name="lists"),
    path("lists/<int:pk>/", views.list_detail, name="list_detail"),
    path("lists/<int:pk>/edit/", views.list_edit, name="list_edit"),
    path("lists/<int:pk>/delete/", views.list_delete, name="list_delete"),
    path("lists/<int:pk>/access/", views.list_grants, name="list_grants"),
    path("fields/", views.fields, name="fields"),
    path("fields/<int:pk>/", views.field_edit, name="field_edit"),
    path("suppressions/", views.suppressions, name="suppressions"),
    path("suppressions/<int:pk>/lift/", views.suppression_lift, name="suppression_lift"),
    path("imports/", views.imports, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import_progress"),
    path("imports/<int:pk>/confirm/", views.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/requeue/", views.import_requeue, name="import_requeue"),
    path("imports/<int:pk>/report.csv", views.import_report, name="import_report"),
    path("export/", views.export, name="export"),
]
