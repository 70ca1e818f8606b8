"""Alert pages under /t/<tenant>/alerts/ (the JSON API has its own routes under /api/v1/)."""

from django.urls import path

from messaging import alert_pages

app_name = "alerts"

urlpatterns = [
    path("", alert_pages.board, name="board"),
    path("policies/", alert_pages.policy_list, name="policies"),
    path("policies/new/", alert_pages.policy_edit, name="policy-new"),
    path("policies/<int:pk>/", alert_pages.policy_edit, name="policy"),
    path("kpis/", alert_pages.kpi_page, name="kpis"),
]
