from rest_framework.routers import SimpleRouter

from inventory.api import views

T = r"t/(?P<tenant>[a-z0-9-]+)/"

router = SimpleRouter()
router.register(T + "warehouses", views.WarehouseViewSet, basename="warehouse")
router.register(T + "skus", views.SKUViewSet, basename="sku")
router.register(T + "stock", views.StockViewSet, basename="stock")
router.register(T + "replenishment-rules", views.RuleViewSet, basename="replenishment-rule")
router.register(T + "replenishment-requests", views.ReplenishmentRequestViewSet, basename="replenishment-request")

urlpatterns = router.urls
