"""The logistics API's routes. Included before the purchase-order router, so that
`purchase-orders/{number}/ship/` and `/receive/` are served here."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from orders.api import logistics as views

T = r"t/(?P<tenant>[a-z0-9-]+)/"

router = SimpleRouter()
router.register(T + "shipments", views.ShipmentViewSet, basename="shipment")
router.register(T + "quality-holds", views.QualityHoldViewSet, basename="quality-hold")

urlpatterns = [
    re_path(T + r"purchase-orders/(?P<number>[^/]+)/ship/$", views.PurchaseOrderShipView.as_view(), name="purchase-order-ship"),
    re_path(T + r"purchase-orders/(?P<number>[^/]+)/receive/$", views.PurchaseOrderReceiveView.as_view(),
            name="purchase-order-receive"),
    # The delivery note as the contract names it, without a trailing slash.
    path("t/<slug:tenant>/shipments/<int:pk>/note.pdf", views.ShipmentViewSet.as_view({"get": "note"}),
         name="shipment-note-pdf"),
    *router.urls,
]
