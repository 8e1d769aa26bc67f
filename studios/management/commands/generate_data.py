"""manage.py generate_data: synthetic demo history, loaded in bulk."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studios import importing, services
from studios.generator import DEFAULT_END_MONTH, generate
from studios.models import Studio


class Command(BaseCommand):
    help = "Generate deterministic demo history for N studios and load it in bulk."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--studios", type=int, default=12, help="Number of studios (default 12)."
        )
        parser.add_argument(
            "--months", type=int, default=60, help="Months of history (default 60)."
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="Random seed (default 0)."
        )
        parser.add_argument(
            "--end-month",
            default=DEFAULT_END_MONTH,
            help=f"Last month of history, YYYY-MM (default {DEFAULT_END_MONTH}).",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete every existing studio and its data first.",
        )
        parser.add_argument(
            "--no-input",
            action="store_true",
            help="Do not ask before --replace deletes.",
        )
        parser.add_argument(
            "--csv",
            type=Path,
            help="Also write the data in the import_metrics CSV format to this path.",
        )
        parser.add_argument(
            "--csv-only", action="store_true", help="Write the CSV and load nothing."
        )
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options) -> None:
        if not 1 <= options["studios"] <= 100_000:
            raise CommandError("--studios must be between 1 and 100000.")
        if not 13 <= options["months"] <= 240:
            raise CommandError(
                "--months must be between 13 and 240 (12 months are held out)."
            )
        if options["csv_only"] and not options["csv"]:
            raise CommandError("--csv-only needs --csv PATH.")
        if options["replace"] and not options["no_input"] and not options["csv_only"]:
            existing = Studio.objects.count()
            if existing:
                answer = input(
                    f"--replace deletes {existing} studios and all their data. Type 'yes': "
                )
                if answer.strip().lower() != "yes":
                    raise CommandError("Cancelled.")

        started = time.perf_counter()
        self.stdout.write(
            f"Generating {options['studios']} studios x {options['months']} months (seed {options['seed']})..."
        )
        try:
            data = generate(
                n_studios=options["studios"],
                months=options["months"],
                seed=options["seed"],
                end_month=options["end_month"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"  generated in {time.perf_counter() - started:.1f}s")

        if options["csv"]:
            frame = importing.generated_metrics_csv_frame(data)
            frame.to_csv(options["csv"], index=False)
            self.stdout.write(f"  wrote {len(frame)} rows to {options['csv']}")
        if options["csv_only"]:
            return

        load_started = time.perf_counter()
        try:
            report = services.generated_data_load(
                data=data,
                replace=options["replace"],
                batch_size=options["batch_size"],
                progress=self._progress,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - load_started
        rows = report.metrics + report.class_types + report.cohorts + report.studios
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {report.studios} studios, {report.metrics} monthly metrics, "
                f"{report.class_types} class types, {report.cohorts} cohorts in {elapsed:.1f}s "
                f"({rows / max(elapsed, 1e-9):,.0f} rows/s)."
            )
        )

    def _progress(self, table: str, done: int, total: int) -> None:
        self.stdout.write(f"  {table}: {done}/{total}")
