from django.apps import AppConfig


class StudiosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "studios"
    verbose_name = "Studios and monthly data"
