"""manage.py retrain: run a retrain job in this process, with progress."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from forecasting.jobs import (
    HEADLINE_METRICS,
    MIN_WINDOW_MONTHS,
    retrain_job_create,
    retrain_job_fail,
    retrain_job_run,
)
from forecasting.models import RetrainJobStatus, RetrainStrategy
from studiosim.errors import DomainError


class Command(BaseCommand):
    help = (
        "Retrain the forward model now (a recorded retrain job, run in this process)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--strategy",
            type=str.upper,
            choices=RetrainStrategy.values,
            default=RetrainStrategy.FULL,
            help="FULL (default) or INCREMENTAL (the active version's hyperparameters "
            "on each studio's latest window; falls back to FULL when it cannot).",
        )
        parser.add_argument(
            "--include-latest-months",
            type=int,
            help=f"Train on each studio's latest N months only (N >= {MIN_WINDOW_MONTHS}).",
        )
        parser.add_argument(
            "--activate",
            action="store_true",
            help="Activate the new version if its checks pass and the active "
            "version has not changed meanwhile.",
        )
        parser.add_argument(
            "--notify",
            action="store_true",
            help="Email the outcome to --user.",
        )
        parser.add_argument(
            "--user",
            help="Username recorded as the requester (and emailed with --notify).",
        )

    def handle(self, *args, **options) -> None:
        user = None
        if options["user"]:
            user = (
                get_user_model()
                .objects.filter(**{get_user_model().USERNAME_FIELD: options["user"]})
                .first()
            )
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        elif options["notify"]:
            raise CommandError("--notify needs --user (whom to email).")
        try:
            job = retrain_job_create(
                user=user,
                include_latest_months=options["include_latest_months"],
                strategy=options["strategy"],
                activate=options["activate"],
                notify_on_completion=options["notify"],
                enqueue=False,
            )
        except DomainError as exc:
            option = (exc.field or "").replace("_", "-")
            raise CommandError(f"--{option}: {exc}" if option else str(exc)) from exc
        self.stdout.write(f"Retrain job {job.pk} recorded; running it here.")
        try:
            job = retrain_job_run(job_id=job.pk, progress=self.stdout.write)
        except KeyboardInterrupt:
            retrain_job_fail(job_id=job.pk, error="Interrupted (manage.py retrain).")
            raise

        if job.status != RetrainJobStatus.SUCCEEDED:
            raise CommandError(
                f"Retrain job {job.pk} failed: {job.error_message} "
                "The active model is unchanged."
            )
        version = job.model_version
        headline = version.metrics.get("headline", {})
        self.stdout.write(
            self.style.SUCCESS(
                f"Retrain job {job.pk} succeeded in {job.duration.total_seconds():.1f}s "
                f"({job.strategy_used}): {version.version} is "
                f"{'active' if job.activated else version.get_status_display().lower()}."
            )
        )
        for name, label in HEADLINE_METRICS.items():
            value = headline.get(name)
            self.stdout.write(
                f"  {label}: {'n/a' if value is None else format(value, '.4g')}"
            )
        if job.notes:
            self.stdout.write(self.style.WARNING(job.notes))
