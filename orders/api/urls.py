"""The orders API's routes under /api/v1/t/{tenant}/ (logistics' routes sit beside these)."""

from rest_framework.routers import SimpleRouter

from orders.api import views

T = r"t/(?P<tenant>[a-z0-9-]+)/"

router = SimpleRouter()
router.register(T + "purchase-orders", views.PurchaseOrderViewSet, basename="purchase-order")

urlpatterns = router.urls
