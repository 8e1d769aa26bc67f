"""Prepare a local demo: superuser, demo data and a model (when missing)."""

import json
import os
import shlex
from pathlib import Path

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
from studios.services import (
    ApiTokenInvalid,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
)

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
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the demo server will answer (make demo passes its HOST and "
            "PORT), for the printed addresses and curl.",
        )
        parser.add_argument(
            "--token-file",
            type=Path,
            default=None,
            help="Where the development API token is kept between runs (default: "
            "var/demo-api-token beside manage.py).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_bootstrap only runs with DEBUG=true: it creates a superuser "
                "with a known password."
            )
        base_url = options["base_url"].rstrip("/")
        token_file = options["token_file"] or (
            Path(settings.BASE_DIR) / "var" / "demo-api-token"
        )
        self._ensure_superuser(base_url)
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
        self._print_api_example(f"{base_url}/graphql/", token_file)
        self.stdout.write(
            self.style.SUCCESS(f"Serving on {base_url}/")
            + f"\n  owner pages (dashboards, what-if, plans, scenarios): {base_url}/"
            f"\n  admin: {base_url}/admin/"
            f"\n  GraphQL and GraphiQL: {base_url}/graphql/"
        )

    def _ensure_superuser(self, base_url: str) -> None:
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
                f"(sign in at {base_url}/accounts/login/)"
            )
        )

    def _print_api_example(self, graphql_url: str, token_file: Path) -> None:
        """The superuser's "demo" API token and a curl that uses it.

        Only a token's hash is stored in the database, so the plaintext is kept in
        ``token_file`` (development only, readable by its owner alone): a token
        that still works is printed again, so scripts and GraphiQL headers keep
        working across runs. When it no longer works (or the file is gone) a new
        one replaces it, the old demo tokens are revoked, and the output says so.
        """
        User = get_user_model()
        user = User.objects.filter(username=DEV_USERNAME, is_superuser=True).first()
        if user is None:
            self.stdout.write(
                "No development superuser, so no demo API token: create one with "
                "manage.py create_api_token USERNAME."
            )
            return
        key = _kept_token(token_file, user=user)
        if key is not None:
            self.stdout.write(
                self.style.SUCCESS(f"Development API token ({DEV_USERNAME}): {key}")
                + f" (kept from the last run, in {token_file})"
            )
        else:
            with transaction.atomic():
                revoked = 0
                for token in ApiToken.objects.filter(
                    user=user, name=DEMO_TOKEN_NAME, revoked_at__isnull=True
                ):
                    api_token_revoke(token=token)
                    revoked += 1
                _, key = api_token_create(user=user, name=DEMO_TOKEN_NAME)
            _keep_token(token_file, key)
            replaced = (
                f"; it replaces the previous demo token, now revoked ({revoked})"
                if revoked
                else ""
            )
            self.stdout.write(
                self.style.SUCCESS(f"Development API token ({DEV_USERNAME}): {key}")
                + f" (new, kept in {token_file}{replaced})"
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


def _kept_token(token_file: Path, *, user) -> str | None:
    """The kept plaintext when it is still a valid demo token of ``user``."""
    try:
        key = token_file.read_text().strip()
    except OSError:
        return None
    if not key:
        return None
    try:
        token = api_token_authenticate(key=key)
    except ApiTokenInvalid:
        return None
    if token.user_id != user.pk or token.name != DEMO_TOKEN_NAME:
        return None
    return key


def _keep_token(token_file: Path, key: str) -> None:
    token_file.parent.mkdir(parents=True, exist_ok=True)
    # Created readable by its owner only, before the secret is written.
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
