"""Scorecard pages, included under /t/<tenant>/scorecards/ (scm_portal/tenancy/urls.py)."""

from django.urls import path

from orders import views_scorecards

app_name = "scorecards"

urlpatterns = [
    path("", views_scorecards.scorecard_list, name="list"),
    path("<slug:supplier>/", views_scorecards.scorecard_detail, name="detail"),
]
