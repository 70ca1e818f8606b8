"""The orders API's routes under /api/v1/t/{tenant}/ (logistics' routes sit beside these)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from audit.trails.api import trail_pdf_view
from orders.api import views
from orders.models import PurchaseOrder

T = r"t/(?P<tenant>[a-z0-9-]+)/"

router = SimpleRouter()
router.register(T + "purchase-orders", views.PurchaseOrderViewSet, basename="purchase-order")

urlpatterns = [
    # The PO's audit trail, as the contract names it (no trailing slash).
    path("t/<slug:tenant>/purchase-orders/<str:number>/trail.pdf",
         trail_pdf_view("purchase_order", model=PurchaseOrder, lookup_field="number"), name="purchase-order-trail-pdf"),
    *router.urls,
]
