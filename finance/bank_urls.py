from django.urls import path

from finance import bank_views

app_name = "finance_bank"

urlpatterns = [
    path("", bank_views.bank_account, name="bank-account"),
]
