"""manage.py forecast_all: forecast every studio as one batch run (SPEC §15)."""

import time

from django.core.management.base import BaseCommand, CommandError

from forecasting.batch import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MONTHS,
    MAX_CHUNK_SIZE,
    batch_forecast_create,
    batch_forecast_finish,
    batch_forecast_retry,
    batch_forecast_run_here,
)
from forecasting.models import BatchForecast, BatchForecastStatus
from studios.models import StudioType
from studiosim.celery import app as celery_app
from studiosim.errors import DomainError


class Command(BaseCommand):
    help = (
        "Forecast every studio (or one type) from its latest month, as chunks run "
        "by the Celery workers (in this process when no broker is configured)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--months",
            type=int,
            default=DEFAULT_MONTHS,
            help=f"Months to forecast, 1-12 (default {DEFAULT_MONTHS}).",
        )
        parser.add_argument(
            "--studio-type",
            choices=StudioType.values,
            default="",
            help="Only studios of this type.",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=DEFAULT_CHUNK_SIZE,
            help=f"Studios per task, 1-{MAX_CHUNK_SIZE:,} (default "
            f"{DEFAULT_CHUNK_SIZE}).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="With workers: wait for the run to finish, printing its progress.",
        )
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Run the chunks here, one after the other, even with a broker.",
        )
        parser.add_argument(
            "--retry",
            metavar="RUN_ID",
            help="Run a finished run's failed chunks again (and only those).",
        )

    def handle(self, *args, **options) -> None:
        here = options["in_process"]
        try:
            if options["retry"]:
                run = batch_forecast_retry(run_id=options["retry"], enqueue=not here)
                self.stdout.write(f"Batch forecast {run.pk}: retrying failed chunks.")
            else:
                run = batch_forecast_create(
                    months=options["months"],
                    studio_type=options["studio_type"],
                    chunk_size=options["chunk_size"],
                    enqueue=not here,
                )
                self.stdout.write(
                    f"Batch forecast {run.pk}: {run.studio_count} studios in "
                    f"{run.chunk_count} chunks, {run.months} months, model "
                    f"{run.model_version.version}."
                )
        except DomainError as exc:
            option = {"id": "retry"}.get(exc.field or "", exc.field or "")
            option = option.replace("_", "-")
            raise CommandError(f"--{option}: {exc}" if option else str(exc)) from exc
        if here:
            run = batch_forecast_run_here(run_id=run.pk)
        elif celery_app.conf.task_always_eager:
            run.refresh_from_db()
        elif options["wait"]:
            run = self._wait(run)
        else:
            self.stdout.write(
                "Queued for the workers; follow it with the batchForecast query or "
                "the admin, or run this command with --wait."
            )
            return
        self._report(run)
        if run.status == BatchForecastStatus.FAILED:
            raise CommandError(
                f"{run.error_message} (manage.py forecast_all --retry {run.pk})"
            )

    def _wait(self, run: BatchForecast) -> BatchForecast:
        shown = -1
        while True:
            run = batch_forecast_finish(run_id=run.pk)
            done = run.chunks.filter(
                status__in=[BatchForecastStatus.SUCCEEDED, BatchForecastStatus.FAILED]
            ).count()
            if done != shown:
                self.stdout.write(f"  {done}/{run.chunk_count} chunks done")
                shown = done
            if run.status in (
                BatchForecastStatus.SUCCEEDED,
                BatchForecastStatus.FAILED,
            ):
                return run
            time.sleep(0.5)

    def _report(self, run: BatchForecast) -> None:
        duration = run.duration
        rate = (
            f" in {duration.total_seconds():.1f} s "
            f"({run.forecast_count / max(duration.total_seconds(), 1e-9):,.0f} "
            "studios/s)"
            if duration is not None
            else ""
        )
        style = (
            self.style.SUCCESS
            if run.status == BatchForecastStatus.SUCCEEDED
            else self.style.ERROR
        )
        self.stdout.write(
            style(
                f"{run.get_status_display()}: {run.forecast_count} studios forecast, "
                f"{run.skipped_count} skipped (each chunk lists them and why), "
                f"{run.failed_chunk_count} failed chunks{rate}."
            )
        )
        chunks = list(
            run.chunks.filter(status=BatchForecastStatus.SUCCEEDED).only(
                "started_at", "finished_at", "cpu_seconds"
            )
        )
        busy = sum((c.finished_at - c.started_at).total_seconds() for c in chunks)
        cpu = sum(c.cpu_seconds or 0.0 for c in chunks)
        if busy > 0:
            self.stdout.write(
                f"Chunks: {run.forecast_count / busy:,.0f} studios per second of "
                "chunk time (one process's throughput)."
            )
        if cpu > 0:
            self.stdout.write(
                f"CPU: {run.forecast_count / cpu:,.0f} studios per CPU-second of the "
                f"chunks' processes ({cpu:.2f} s; the database's work not included)."
            )
