"""manage.py train_model: train the global forward model on the database's data."""

from django.core.management.base import BaseCommand, CommandError

from forecasting.ml.model import CORRECTIONS
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
        parser.add_argument(
            "--n-jobs",
            type=int,
            help="Threads of the learners (default TRAIN_N_JOBS: every core the "
            "process may use).",
        )
        parser.add_argument(
            "--max-studios",
            type=int,
            help="Train on a sample of at most N studios, stratified by type, size "
            "and age (default TRAIN_MAX_STUDIOS; every studio is still forecast).",
        )
        parser.add_argument(
            "--correction",
            choices=CORRECTIONS,
            default="ensemble",
            help="Learners of the correction (default ensemble; see forecasting/ml/README.md).",
        )

    def handle(self, *args, **options) -> None:
        for name in ("n_jobs", "max_studios"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        params = {"random_state": options["seed"], "correction": options["correction"]}
        if options["n_jobs"] is not None:
            params["n_jobs"] = options["n_jobs"]
        try:
            version = model_train(
                activate=options["activate"] or bool(options["force_reason"]),
                force_reason=options["force_reason"],
                include_latest_months=options["include_latest_months"],
                params=params,
                max_studios=options["max_studios"],
                progress=self.stdout.write,
                tracking_tags={"trigger": "train_model"},
            )
        except ActivationRefused as exc:
            if exc.version is not None:
                self.stdout.write(headline(exc.version))
            label = exc.version.version if exc.version is not None else "VERSION"
            raise CommandError(
                f"{exc} The version is registered as ready; to serve it anyway: "
                f'activate_model {label} --force-reason "why" (or from the admin).'
            ) from exc
        except (DomainError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(headline(version)))


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.2%}"


def headline(version) -> str:
    """One line of the version's test figures, saying what is not available."""
    figures = version.metrics.get("headline", {})
    parts = [
        f"{version.version} is {version.get_status_display().lower()}",
    ]
    model = _pct(figures.get("test_mape_h1"))
    if model is None:
        return parts[0] + ": no test figures (nothing to evaluate on)."
    detail = [f"plain-forecast month-1 test MAPE {model}"]
    what_if = _pct(figures.get("what_if_test_mape_h1"))
    if what_if is not None:
        detail.append(f"what-if {what_if}")
    for key, name in (
        ("naive_test_mape_h1", "naive"),
        ("seasonal_naive_test_mape_h1", "seasonal naive"),
    ):
        if (value := _pct(figures.get(key))) is not None:
            detail.append(f"{name} {value}")
    oracle = _pct(figures.get("oracle_test_mape_h1"))
    detail.append(
        f"oracle {oracle}" if oracle else "no noise-free truth in this data (no oracle)"
    )
    coverage = _pct(figures.get("test_coverage_h1"))
    if coverage is not None:
        detail.append(f"80% interval coverage {coverage}")
    return f"{parts[0]}: " + ", ".join(detail) + "."
