from django.urls import path

from delivery import public_views

app_name = "tracking"
urlpatterns = [
    path("t/o/<str:token>.gif", public_views.open_pixel, name="open"),
    path("t/c/<str:token>/<str:encoded_url>/<str:signature>", public_views.click, name="click"),
    path("u/<str:token>/", public_views.unsubscribe, name="unsubscribe"),
]
