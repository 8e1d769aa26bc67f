from django.apps import AppConfig


class WebConfig(AppConfig):
    """The owner-facing pages and the static files the project serves itself."""

    name = "web"
    verbose_name = "Owner pages"
