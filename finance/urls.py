"""Financing pages under /t/<tenant>/financing/ (finance/views.py)."""

from django.urls import path

from finance import views

app_name = "finance"

urlpatterns = [
    path("", views.application_list_page, name="applications"),
    path("receivables/", views.receivable_list_page, name="receivables"),
    path("receivables/<int:pk>/decide/", views.receivable_confirm_page, name="receivable-decide"),
    path("receivables/<int:pk>/split/", views.receivable_split_page, name="receivable-split"),
    path("invoices/", views.invoice_list_page, name="invoices"),
    path("apply/", views.apply_page, name="apply"),
    path("apply/quote/", views.quote_page, name="quote"),
    path("approvals/", views.queue_page, {"queue": "approvals"}, name="approvals"),
    path("funder/", views.queue_page, {"queue": "funder"}, name="funder"),
    path("calendar/", views.repayment_calendar_page, name="calendar"),
    path("<int:pk>/", views.application_detail_page, name="detail"),
    path("<int:pk>/<str:move>/", views.application_move_page, name="move"),
]
