"""manage.py train_model: train the global forward model on the database's data."""

from django.core.management.base import BaseCommand, CommandError

from forecasting.services import ActivationRefused, model_train
from studiosim.errors import DomainError


class Command(BaseCommand):
    help = "Train, evaluate and register a forward model; activate it if asked or if none is."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--activate",
            action="store_true",
            help="Activate the new version (gated on its checks) even if one is active.",
        )
        parser.add_argument(
            "--force-reason",
            default="",
            help="Activate despite failing checks; the reason is recorded.",
        )
        parser.add_argument(
            "--include-latest-months",
            type=int,
            help="Train on each studio's latest N months only (N >= 36).",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="Random seed (default 0)."
        )

    def handle(self, *args, **options) -> None:
        try:
            version = model_train(
                activate=options["activate"] or bool(options["force_reason"]),
                force_reason=options["force_reason"],
                include_latest_months=options["include_latest_months"],
                params={"random_state": options["seed"]},
                progress=self.stdout.write,
                tracking_tags={"trigger": "train_model"},
            )
        except ActivationRefused as exc:
            raise CommandError(
                f"{exc} The version is registered as ready; activate it later with "
                "--force-reason or from the admin."
            ) from exc
        except (DomainError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        headline = version.metrics.get("headline", {})
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.version} is {version.get_status_display().lower()}: plain-forecast "
                f"month-1 test MAPE {headline.get('test_mape_h1', float('nan')):.2%} "
                f"(oracle {headline.get('oracle_test_mape_h1', float('nan')):.2%}, naive "
                f"{headline.get('naive_test_mape_h1', float('nan')):.2%})."
            )
        )
