"""manage.py evaluate_model: the evaluation table of a model version."""

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from forecasting.ml.evaluation import format_report
from forecasting.ml.exceptions import ArtifactIntegrityError
from forecasting.models import ModelVersion
from forecasting.selectors import model_version_active
from forecasting.services import model_evaluate


class Command(BaseCommand):
    help = "Evaluate a model version (default: the active one) and print the table."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--model-version", help="Version string (default: the active version)."
        )
        parser.add_argument(
            "--stored",
            action="store_true",
            help="Print the metrics stored at training time instead of re-evaluating.",
        )

    def handle(self, *args, **options) -> None:
        if options["model_version"]:
            version = ModelVersion.objects.filter(
                version=options["model_version"]
            ).first()
            if version is None:
                raise CommandError(f"No model version {options['model_version']!r}.")
        else:
            version = model_version_active()
            if version is None:
                raise CommandError(
                    "No active model: run train_model, or pass --model-version."
                )
        if not options["stored"]:
            self.stdout.write(
                f"Evaluating {version.version} on the database's current data..."
            )
            try:
                model_evaluate(version=version)
            except ArtifactIntegrityError as exc:
                raise CommandError(str(exc)) from exc
        table = pd.DataFrame(version.metrics.get("table", []))
        if table.empty:
            raise CommandError(f"{version.version} has no stored metrics.")
        self.stdout.write(format_report(table))
        for name, check in version.checks.items():
            state = "passed" if check["passed"] else "FAILED"
            self.stdout.write(f"check {name}: {state} ({check['detail']})")
