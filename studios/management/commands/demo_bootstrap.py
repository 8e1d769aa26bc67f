"""Prepare a local demo: superuser, demo data and a model (when missing)."""

import json
import shlex

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from forecasting.models import ModelVersion
from forecasting.selectors import model_version_active
from forecasting.services import model_version_activate
from studios.models import ApiToken, Studio
from studios.selectors import metric_list, studio_list
from studios.services import api_token_create, api_token_revoke

DEV_USERNAME = "admin"
DEV_PASSWORD = "admin"  # noqa: S105 - printed development credential, embedded default only
DEMO_TOKEN_NAME = "demo"
FORWARD_PREDICTION_EXAMPLE = (
    "query ForwardPrediction($input: ForwardPredictionInput!) { "
    "forwardPrediction(input: $input) { predictionId modelVersion "
    "totalProjectedRevenue growthRate "
    "predictions { monthYear revenue memberCount confidenceInterval { lower upper } } "
    "} }"
)


class Command(BaseCommand):
    help = "Set up a local demo (superuser, data and model when missing); DEBUG only."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--studios", type=int, default=12, help="Demo studios to generate."
        )
        parser.add_argument(
            "--graphql-url",
            default="http://127.0.0.1:8000/graphql/",
            help="Where the demo server answers, for the printed curl.",
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
        if model_version_active() is None:
            self.stdout.write("No active model: training one on the demo data...")
            # Activated like any first version: only if its checks pass.
            call_command("train_model", stdout=self.stdout)
            if model_version_active() is None:
                # A failing check is printed above; the demo still needs a model
                # to serve, so the reason is recorded and it is activated.
                reason = "make demo: development data, activated despite a check"
                self.stdout.write(self.style.WARNING(f"{reason} (see above)."))
                model_version_activate(
                    version=ModelVersion.objects.latest(), force_reason=reason
                )
        else:
            self.stdout.write(f"Active model: {model_version_active().version}.")
        self._print_api_example(options["graphql_url"])

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

    def _print_api_example(self, graphql_url: str) -> None:
        """A fresh "demo" API token for the superuser and a curl that uses it.

        Only a token's hash is stored, so the previous demo token cannot be shown
        again: it is revoked and a new one created on every run.
        """
        User = get_user_model()
        user = User.objects.filter(username=DEV_USERNAME, is_superuser=True).first()
        if user is None:
            self.stdout.write(
                "No development superuser, so no demo API token: create one with "
                "manage.py create_api_token USERNAME."
            )
            return
        with transaction.atomic():
            for token in ApiToken.objects.filter(
                user=user, name=DEMO_TOKEN_NAME, revoked_at__isnull=True
            ):
                api_token_revoke(token=token)
            _, key = api_token_create(user=user, name=DEMO_TOKEN_NAME)
        self.stdout.write(
            self.style.SUCCESS(f"Development API token ({DEV_USERNAME}): {key}")
        )
        studio = studio_list(user=user).order_by("name").first()
        if studio is None:
            return
        latest = (
            metric_list(user=user, studio=studio)
            .order_by("-month_year")
            .values_list("month_year", flat=True)
            .first()
        )
        if latest is None:
            return
        payload = {
            "query": FORWARD_PREDICTION_EXAMPLE,
            "variables": {
                "input": {
                    "studioId": str(studio.pk),
                    "baseMonth": f"{latest:%Y-%m}",
                    "projectionMonths": 3,
                    "levers": {"retentionRate": 0.95},
                }
            },
        }
        self.stdout.write(
            f"Forecast {studio.name} from {latest:%Y-%m} with 95% retention:\n"
            f"  curl -s {graphql_url} \\\n"
            f"    -H {shlex.quote(f'Authorization: Bearer {key}')} \\\n"
            "    -H 'Content-Type: application/json' \\\n"
            f"    -d {shlex.quote(json.dumps(payload))}"
        )
