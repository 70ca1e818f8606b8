from django.urls import re_path
from rest_framework.routers import SimpleRouter

from finance.api import bank, views

T = r"t/(?P<tenant>[a-z0-9-]+)/"

router = SimpleRouter()
router.register(T + "invoices", views.InvoiceViewSet, basename="invoice")
router.register(T + "receivables", views.ReceivableViewSet, basename="receivable")
router.register(T + "financing-applications", views.FinancingApplicationViewSet, basename="financing-application")

urlpatterns = [
    *router.urls,
    re_path(r"^" + T + r"bank-account/$", bank.BankAccountView.as_view(), name="bank-account"),
]
