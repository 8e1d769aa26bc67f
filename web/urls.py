"""The owner pages; the root URLconf includes this at ``""``."""

from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("", views.studio_index, name="studio_list"),
    path("studios/<uuid:studio_id>/", views.studio_dashboard, name="dashboard"),
    path("studios/<uuid:studio_id>/what-if/", views.studio_simulator, name="simulate"),
    path("studios/<uuid:studio_id>/plan/", views.studio_planner, name="plan"),
    path(
        "studios/<uuid:studio_id>/scenarios/", views.studio_scenarios, name="scenarios"
    ),
]
