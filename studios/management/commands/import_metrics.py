"""manage.py import_metrics: load a studio export CSV, all or nothing."""

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studios import services
from studios.importing import STUDIO_TYPE_BY_TEXT


def _print(problems: list, write, limit: int | None) -> None:
    for problem in problems[:limit]:
        write(str(problem))
    rest = problems[limit:] if limit is not None else []
    if rest:
        by_column = Counter(p.column or "the file" for p in rest)
        write(
            f"... and {len(rest)} more {rest[0].severity}s ("
            + ", ".join(f"{column}: {n}" for column, n in by_column.most_common())
            + "); --all-problems prints them all"
        )


class Command(BaseCommand):
    help = "Validate a monthly-metrics CSV and upsert it in one transaction, or load nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "path", type=Path, help="CSV file, one row per studio-month."
        )
        parser.add_argument(
            "--studio-type",
            help="Type for new studios whose rows have no studio_type (e.g. yoga, pilates).",
        )
        parser.add_argument(
            "--location",
            help="'City, State' for new studios whose rows have no location "
            "(without it they are created with a blank location, to fill in later).",
        )
        parser.add_argument(
            "--currency",
            default="USD",
            help="Currency of new studios' money, an ISO 4217 code such as EUR or "
            "JPY (default USD); a known studio keeps its own.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and report, write nothing."
        )
        parser.add_argument(
            "--all-problems",
            action="store_true",
            help=f"Print every problem (by default the first {services.SHOWN_PROBLEMS} of "
            "each severity, then how many more by column).",
        )

    def handle(
        self,
        *args,
        path: Path,
        studio_type: str | None,
        location: str | None,
        currency: str,
        dry_run: bool,
        all_problems: bool,
        **options,
    ) -> None:
        limit = None if all_problems else services.SHOWN_PROBLEMS
        if studio_type:
            normalised = STUDIO_TYPE_BY_TEXT.get(studio_type.lower())
            if normalised is None:
                raise CommandError(f"Unknown --studio-type {studio_type!r}.")
            studio_type = normalised
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        try:
            report = services.metrics_import(
                data=data,
                default_studio_type=studio_type,
                default_location=location,
                default_currency=currency.strip().upper(),
                dry_run=dry_run,
            )
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}.") from exc
        except services.ImportFailed as failed:
            _print(failed.report.errors, self.stderr.write, limit)
            _print(failed.report.warnings, self.stderr.write, limit)
            raise CommandError(
                f"{len(failed.report.errors)} error(s) in {path}; nothing was imported."
            ) from failed

        if report.ignored_columns:
            self.stdout.write("Ignored columns: " + ", ".join(report.ignored_columns))
        _print(
            report.warnings,
            lambda text: self.stdout.write(self.style.WARNING(text)),
            limit,
        )
        verb = "Would import" if dry_run else "Imported"
        created = report.studios_created
        names = ", ".join(created[:10]) + (
            f" and {len(created) - 10} more" if len(created) > 10 else ""
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {report.rows} rows: {report.created} created, {report.updated} "
                f"updated, {report.unchanged} unchanged; {len(created)} new studio(s)"
                + (f" ({names})" if created else "")
                + "."
            )
        )
