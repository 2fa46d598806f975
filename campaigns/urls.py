from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("approvals/", views.approval_queue, name="queue"),
    path("notifications/", views.notification_list, name="notifications"),
    path("layouts/", views.layout_list, name="layouts"),
    path("layouts/new/", views.layout_create, name="layout_create"),
    path("layouts/<int:layout_id>/", views.layout_edit, name="layout_edit"),
    path("settings/", views.sender_settings, name="settings"),
    path("generate-text/", views.generate_text, name="generate_text"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/edit/", views.campaign_edit, name="edit"),
    path("<int:campaign_id>/check/", views.campaign_check, name="check"),
    path("<int:campaign_id>/preview/", views.campaign_preview, name="preview"),
    path("<int:campaign_id>/preview/html/", views.campaign_preview_html, name="preview_html"),
    path("<int:campaign_id>/test-send/", views.campaign_test_send, name="test_send"),
    path("<int:campaign_id>/submit/", views.campaign_submit, name="submit"),
    path("<int:campaign_id>/withdraw/", views.campaign_withdraw, name="withdraw"),
    path("<int:campaign_id>/review/", views.campaign_review, name="review"),
    path("<int:campaign_id>/approve/", views.campaign_approve, name="approve"),
    path("<int:campaign_id>/reject/", views.campaign_reject, name="reject"),
    path("<int:campaign_id>/cancel/", views.campaign_cancel, name="cancel"),
    path("<int:campaign_id>/pause/", views.campaign_pause, name="pause"),
    path("<int:campaign_id>/resume/", views.campaign_resume, name="resume"),
    path("<int:campaign_id>/clone/", views.campaign_clone, name="clone"),
]
