from django.urls import path

from delivery import views

app_name = "delivery"
urlpatterns = [
    path("sink/", views.sink, name="sink"),
    path("sink/<int:message_id>/", views.sink_message, name="sink_message"),
]
