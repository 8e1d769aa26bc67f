"""manage.py activate_model: make a trained model version the one serving forecasts."""

from django.core.management.base import BaseCommand, CommandError

from forecasting.management.commands.train_model import headline
from forecasting.models import ModelVersion, ModelVersionStatus
from forecasting.services import ActivationRefused, model_version_activate


class Command(BaseCommand):
    help = (
        "Make a model version (default: the latest ready one) the one serving "
        "forecasts, archiving the one before. A version that failed its activation "
        "checks needs --force-reason, which is recorded on it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "version",
            nargs="?",
            help="Version string, as train_model printed it (default: the latest "
            "ready version).",
        )
        parser.add_argument(
            "--force-reason",
            default="",
            help="Why a version that failed its activation checks should serve "
            "anyway (recorded on the version).",
        )

    def handle(self, *args, **options) -> None:
        label = options["version"]
        if label:
            version = ModelVersion.objects.filter(version=label).first()
            if version is None:
                raise CommandError(f"No model version {label!r}.{_ready_hint()}")
        else:
            version = (
                ModelVersion.objects.filter(status=ModelVersionStatus.READY)
                .order_by("-created_at")
                .first()
            )
            if version is None:
                raise CommandError(
                    "No ready model version to activate: run train_model first."
                )
        try:
            version = model_version_activate(
                version=version, force_reason=options["force_reason"]
            )
        except ActivationRefused as exc:
            if exc.failing_checks:
                for name, check in version.checks.items():
                    if not check.get("passed"):
                        self.stdout.write(f"  check {name}: FAILED ({check['detail']})")
                raise CommandError(
                    f"{exc} To serve it anyway: activate_model {version.version} "
                    '--force-reason "why"'
                ) from exc
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(headline(version)))
        if version.activation_forced_reason:
            self.stdout.write(
                f"  activated despite failing checks: {version.activation_forced_reason}"
            )


def _ready_hint() -> str:
    ready = ModelVersion.objects.filter(status=ModelVersionStatus.READY).order_by(
        "-created_at"
    )[:5]
    labels = [version.version for version in ready]
    return f" Ready versions, latest first: {', '.join(labels)}." if labels else ""
