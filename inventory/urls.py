"""Stock pages under /t/<tenant>/stock/ (the JSON API has its own routes under /api/v1/)."""

from django.urls import path

from inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.stock_list, name="stock"),
    path("<path:code>/", views.sku_detail, name="sku"),  # a SKU code may hold a slash
]
