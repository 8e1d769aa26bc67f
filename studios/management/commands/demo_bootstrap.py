"""Prepare a local demo: superuser, demo data (if the database is empty)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from studios.models import Studio

DEV_USERNAME = "admin"
DEV_PASSWORD = "admin"  # noqa: S105 - printed development credential, embedded default only


class Command(BaseCommand):
    help = "Set up a local demo (superuser, demo data when empty); only with DEBUG on."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--studios", type=int, default=12, help="Demo studios to generate."
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_bootstrap only runs with DEBUG=true: it creates a superuser "
                "with a known password."
            )
        self._ensure_superuser()
        if Studio.objects.exists():
            self.stdout.write(
                f"{Studio.objects.count()} studios in the database: no demo data generated."
            )
        else:
            call_command(
                "generate_data", studios=options["studios"], stdout=self.stdout
            )

    def _ensure_superuser(self) -> None:
        if connection.vendor != "sqlite":
            self.stdout.write(
                "Not on the embedded SQLite default: no development superuser "
                "created (use manage.py createsuperuser)."
            )
            return
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEV_USERNAME,
            defaults={
                "is_staff": True,
                "is_superuser": True,
                "email": "admin@localhost",
            },
        )
        if created:
            user.set_password(DEV_PASSWORD)
            user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Development superuser: {DEV_USERNAME} / {DEV_PASSWORD} "
                "(http://127.0.0.1:8000/admin/)"
            )
        )
