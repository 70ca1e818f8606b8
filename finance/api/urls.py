from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from audit.trails.api import trail_pdf_view
from finance.api import bank, views
from finance.models import FinancingApplication

T = r"t/(?P<tenant>[a-z0-9-]+)/"

router = SimpleRouter()
router.register(T + "invoices", views.InvoiceViewSet, basename="invoice")
router.register(T + "receivables", views.ReceivableViewSet, basename="receivable")
router.register(T + "financing-applications", views.FinancingApplicationViewSet, basename="financing-application")

urlpatterns = [
    # The application's audit trail, as the contract names it (no trailing slash).
    path("t/<slug:tenant>/financing-applications/<int:pk>/trail.pdf",
         trail_pdf_view("financing_application", model=FinancingApplication), name="financing-application-trail-pdf"),
    *router.urls,
    re_path(r"^" + T + r"bank-account/$", bank.BankAccountView.as_view(), name="bank-account"),
]
