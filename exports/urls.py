"""The export download URL; the root URLconf includes this at ``""``."""

from django.urls import path

from exports import views

app_name = "exports"

urlpatterns = [
    path(
        "exports/<str:dataset>.<str:format>",
        views.export_download,
        name="download",
    ),
]
