"""Chat pages under /t/<tenant>/rooms/ (the socket and the JSON API have their own routes)."""

from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.room_list, name="rooms"),
    path("<int:room_id>/", views.room_detail, name="room"),
]
