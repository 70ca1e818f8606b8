"""Purchase-order pages under /t/<tenant>/orders/: the buyers' list and detail, and the same for
a supplier's reps (their portal: only their POs, with the forms to answer them)."""

from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.purchase_order_list_page, name="list"),
    path("<str:number>/", views.purchase_order_detail_page, name="detail"),
    path("<str:number>/<str:move>/", views.purchase_order_move_page, name="move"),
]
