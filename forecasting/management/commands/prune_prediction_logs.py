"""manage.py prune_prediction_logs: delete prediction logs past their retention."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from forecasting.partitions import month_start
from forecasting.retention import prediction_logs_prune


class Command(BaseCommand):
    help = (
        "Delete prediction logs older than the retention period (default "
        "PREDICTION_LOG_RETENTION_DAYS): on PostgreSQL, create the coming months' "
        "partitions and drop whole months past it; then delete the rest in batches."
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
            "--months-ahead",
            type=int,
            default=None,
            help="PostgreSQL: partitions kept ready after the current month (0-24; "
            "default PREDICTION_LOG_PARTITIONS_AHEAD, "
            f"{settings.PREDICTION_LOG_PARTITIONS_AHEAD}).",
        )
        parser.add_argument(
            "--whole-months",
            action="store_true",
            help="Move the cutoff back to the start of its month (UTC): logs are kept "
            "up to a month longer, and on PostgreSQL a daily run then only ever drops "
            "whole partitions instead of deleting the oldest month day by day.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the logs that would be deleted and the partitions that "
            "would be created or dropped; change nothing.",
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
        ahead = options["months_ahead"]
        if ahead is None:
            ahead = settings.PREDICTION_LOG_PARTITIONS_AHEAD
        if not 0 <= ahead <= 24:
            raise CommandError(
                f"--months-ahead must be between 0 and 24, not {ahead} (set "
                "PREDICTION_LOG_PARTITIONS_AHEAD or pass --months-ahead)."
            )
        now = timezone.now()
        cutoff = now - timedelta(days=days)
        rounded = ""
        if options["whole_months"]:
            cutoff = month_start(cutoff)
            rounded = ", back to the start of its month"
        self.stdout.write(
            f"Prediction logs created before {cutoff:%Y-%m-%d %H:%M %Z} "
            f"(older than {days} days{rounded})..."
        )
        report = prediction_logs_prune(
            older_than=cutoff,
            batch_size=batch_size,
            dry_run=options["dry_run"],
            months_ahead=ahead,
            now=now,
            progress=self.stdout.write,
        )
        dropped = len(report.partitions_dropped)
        if report.dry_run:
            self.stdout.write(
                self.style.WARNING(
                    f"Dry run: {report.matched:,} log(s) would be deleted "
                    f"({report.partition_rows:,} of them by dropping {dropped} "
                    f"partition(s)), {len(report.partitions_created)} partition(s) "
                    "would be created; nothing was."
                )
            )
            return
        row_wise = report.deleted - report.partition_rows
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {report.deleted:,} prediction log(s): {row_wise:,} in "
                f"{report.batches} batch(es), {report.partition_rows:,} by dropping "
                f"{dropped} partition(s); created {len(report.partitions_created)} "
                "partition(s)."
            )
        )
        if report.links_cleared:
            self.stdout.write(
                f"Cleared {report.links_cleared:,} scenario link(s) to logs that no "
                "longer exist."
            )
