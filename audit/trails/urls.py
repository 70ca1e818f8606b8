"""Trail pages under /t/<tenant>/audit/trails/ (the PDFs in the API are each app's own routes)."""

from django.urls import path

from audit.trails import views

app_name = "trails"

urlpatterns = [
    path("", views.records, name="records"),
    path("exports/<int:pk>/", views.export_status, name="export"),
    path("exports/<int:pk>/file.pdf", views.export_file, name="export-file"),
    path("<slug:kind>/<str:ref>/", views.trail_page, name="trail"),
    path("<slug:kind>/<str:ref>/trail.pdf", views.trail_export_page, name="trail-pdf"),
]
