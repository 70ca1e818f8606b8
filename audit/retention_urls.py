"""Retention pages under /t/<tenant>/retention/ (the JSON API: audit/retention_api_urls.py)."""

from django.urls import path

from audit import retention_views as views

app_name = "audit-retention"

urlpatterns = [
    path("", views.retention_page, name="policies"),
    path("holds/", views.holds_page, name="holds"),
    path("holds/<int:pk>/release/", views.hold_release, name="hold-release"),
]
