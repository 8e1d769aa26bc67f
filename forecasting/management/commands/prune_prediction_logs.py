"""manage.py prune_prediction_logs: delete prediction logs past their retention."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from forecasting.retention import prediction_logs_prune


class Command(BaseCommand):
    help = (
        "Delete prediction logs older than the retention period, in batches "
        "(default PREDICTION_LOG_RETENTION_DAYS)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="Delete logs created more than this many days ago (>= 1; default "
            "PREDICTION_LOG_RETENTION_DAYS, "
            f"{settings.PREDICTION_LOG_RETENTION_DAYS}).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Rows deleted per transaction (1-100000, default 5000).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the logs that would be deleted; delete nothing.",
        )

    def handle(self, *args, **options) -> None:
        days = options["older_than_days"]
        if days is None:
            days = settings.PREDICTION_LOG_RETENTION_DAYS
        if days < 1:
            raise CommandError(
                f"--older-than-days must be at least 1, not {days} (set "
                "PREDICTION_LOG_RETENTION_DAYS or pass --older-than-days)."
            )
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= 100_000:
            raise CommandError(
                f"--batch-size must be between 1 and 100000, not {batch_size}."
            )
        cutoff = timezone.now() - timedelta(days=days)
        self.stdout.write(
            f"Prediction logs created before {cutoff:%Y-%m-%d %H:%M %Z} "
            f"(older than {days} days)..."
        )
        report = prediction_logs_prune(
            older_than=cutoff,
            batch_size=batch_size,
            dry_run=options["dry_run"],
            progress=self.stdout.write,
        )
        if report.dry_run:
            self.stdout.write(
                self.style.WARNING(
                    f"Dry run: {report.matched:,} log(s) would be deleted; nothing was."
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {report.deleted:,} prediction log(s) in "
                f"{report.batches} batch(es)."
            )
        )
