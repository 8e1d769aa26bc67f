"""The read-only share page of a scenario; the root URLconf includes this at ``""``."""

from django.urls import path

from scenarios import views

app_name = "scenarios"

urlpatterns = [
    path("scenarios/<uuid:scenario_id>/", views.scenario_detail, name="detail"),
]
