"""The background trail exports in the API (the trail.pdf routes are each app's own)."""

from django.urls import path

from audit.trails import api

urlpatterns = [
    path("t/<slug:tenant>/trail-exports/<int:pk>/", api.TrailExportView.as_view(), name="trail-export"),
    path("t/<slug:tenant>/trail-exports/<int:pk>/file.pdf", api.TrailExportFileView.as_view(), name="trail-export-file"),
]
