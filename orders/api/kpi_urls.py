"""`/api/v1/t/{tenant}/kpis/suppliers/`: included beside the other API routes (scm_portal/api/urls.py)."""

from django.urls import path

from orders.api import kpis

T = "t/<slug:tenant>/"

urlpatterns = [
    path(T + "kpis/suppliers/", kpis.SupplierKpiView.as_view(), name="supplier-kpis"),
]
