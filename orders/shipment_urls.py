"""Shipment pages under /t/<tenant>/shipments/ (the JSON API has its own routes under /api/v1/)."""

from django.urls import path

from orders import shipment_views as views

app_name = "shipments"

urlpatterns = [
    path("", views.shipment_list, name="list"),
    path("<str:pk>/", views.shipment_detail, name="detail")  # any text, so the alert board can fill it in,
]
