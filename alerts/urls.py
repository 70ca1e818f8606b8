"""Alert pages under /t/<tenant>/alerts/ (the JSON API has its own routes under /api/v1/)."""

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.board, name="board"),
    path("policies/", views.policy_list, name="policies"),
    path("policies/new/", views.policy_edit, name="policy-new"),
    path("policies/<int:pk>/", views.policy_edit, name="policy"),
    path("kpis/", views.kpi_page, name="kpis"),
]
