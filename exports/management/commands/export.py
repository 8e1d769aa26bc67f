"""manage.py export: write a dataset as CSV or Parquet for BI tools (docs/export.md)."""

import os
import sys
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exports.datasets import DATASETS
from exports.services import export_open
from exports.writers import DEFAULT_ROW_GROUP_ROWS, FORMATS
from studiosim.errors import DomainError

PROGRESS_EVERY = 50_000


class Command(BaseCommand):
    help = "Export studios, monthly metrics, forecasts, scenarios or prediction logs as CSV or Parquet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("dataset", choices=sorted(DATASETS))
        parser.add_argument(
            "--format", choices=sorted(FORMATS), default="csv", help="Default csv."
        )
        parser.add_argument(
            "--output",
            required=True,
            help="File to write (replaced only once the export is complete), "
            "or - for standard output.",
        )
        parser.add_argument(
            "--studio",
            action="append",
            default=[],
            help="Only this studio (id or exact name); repeat for several.",
        )
        parser.add_argument(
            "--user",
            help="Export only what this user may see through the API (default: "
            "every studio, as the operator).",
        )
        parser.add_argument(
            "--row-group-rows",
            type=int,
            default=DEFAULT_ROW_GROUP_ROWS,
            help=f"Rows per Parquet row group (default {DEFAULT_ROW_GROUP_ROWS:,}).",
        )

    def handle(self, *args, **options) -> None:
        user = None
        if options["user"]:
            model = get_user_model()
            user = model.objects.filter(
                **{model.USERNAME_FIELD: options["user"]}
            ).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        try:
            export = export_open(
                dataset=options["dataset"],
                format=options["format"],
                user=user,
                studios=options["studio"],
                row_group_rows=options["row_group_rows"],
            )
        except DomainError as exc:
            option = (exc.field or "").replace("_", "-")
            raise CommandError(f"--{option}: {exc}" if option else str(exc)) from exc

        started = time.perf_counter()
        output = options["output"]
        if output == "-":
            self._write(export, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            self._write_file(export, Path(output))
        self.stderr.write(
            self.style.SUCCESS(
                f"{export.rows:,} rows of {export.dataset.name} written to "
                f"{'standard output' if output == '-' else output} as "
                f"{export.format} in {time.perf_counter() - started:.1f}s."
            )
        )

    def _write(self, export, handle) -> None:
        reported = 0
        for chunk in export.chunks:
            handle.write(chunk)
            if export.rows - reported >= PROGRESS_EVERY:
                reported = export.rows
                self.stderr.write(f"  {export.rows:,} rows...")

    def _write_file(self, export, target: Path) -> None:
        """Write beside the target and move it into place: a failed export leaves
        any previous file untouched and no partial one behind."""
        directory = target.parent if str(target.parent) else Path(".")
        if not directory.is_dir():
            raise CommandError(f"--output: directory {directory} does not exist.")
        fd, staging = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial", dir=directory
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                self._write(export, handle)
            os.replace(staging, target)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
