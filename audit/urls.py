"""Audit pages under /t/<tenant>/audit/ (the JSON API has its own routes under /api/v1/)."""

from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("log/", views.log, name="log"),
    path("verify/", views.verify_page, name="verify"),
]
