"""Benchmark: what the model registry costs an uncached prediction (issue 18 item 3).

Run:  .venv/bin/python bench/hot_path.py [--studios 12] [--calls 1000]
      [--database-url postgres://postgres@127.0.0.1:5432/bench_hot_path]

Set-up trains and evaluates a model on generated data in a fresh database (so
the active version's row carries its real evaluation metrics). Then, in process:

- ``active_model()`` alone, ``--calls`` times: the registry read every service
  makes before it predicts;
- ``forecast_serve`` (the API's forward prediction without HTTP and GraphQL),
  ``--calls`` times, each with levers no earlier call used, so every call misses
  the prediction cache; the studio's state is cached after its first call, as
  in steady serving. Reported with the queries per call that touch the
  registry, and the bytes of its rows those read (the length of every value
  fetched, as text).

With ``--database-url`` the database is created fresh and dropped at the end.
"""

import argparse
import random
import time

import _setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=12)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    if args.database_url:
        _setup.fresh_postgres(args.database_url)
    _setup.setup(args)
    try:
        run(args)
    finally:
        _setup.teardown(args)


def run(args: argparse.Namespace) -> None:
    import json

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from forecasting.models import ModelVersion, ModelVersionStatus
    from forecasting.registry import active_model
    from forecasting.serving import forecast_serve
    from studios.models import MonthlyMetric, Studio

    version = ModelVersion.objects.get(status=ModelVersionStatus.ACTIVE)
    print(
        f"active version {version.version}: metrics JSON "
        f"{len(json.dumps(version.metrics)) / 1024:.1f} KB, whole row "
        f"{sum(len(json.dumps(getattr(version, f.attname), default=str)) for f in ModelVersion._meta.concrete_fields) / 1024:.1f} KB"
    )
    user = get_user_model().objects.create_user("bench-hot-path")
    studios = list(Studio.objects.all())
    base = MonthlyMetric.objects.latest("month_year").month_year.strftime("%Y-%m")
    rng = random.Random(args.seed)

    def serve(studio, upsell):
        return forecast_serve(
            studio=studio,
            user=user,
            base_month=base,
            levers={"upsell_rate": upsell},
            months=3,
            coverage=0.8,
            include_intervals=True,
        )

    for studio in studios:  # the model and every studio's state, loaded once
        serve(studio, 0.99)

    times = []
    for _ in range(args.calls):
        started = time.perf_counter()
        active_model()
        times.append((time.perf_counter() - started) * 1000)
    print(f"  active_model()                     {_setup.percentiles(times)}")

    times, registry_queries, registry_bytes = [], [], []
    for i in range(args.calls):
        studio = rng.choice(studios)
        upsell = 0.05 + 0.9 * (i + 1) / (args.calls + 2)  # never seen before
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            served = serve(studio, upsell)
            times.append((time.perf_counter() - started) * 1000)
        assert not served.cache_hit
        registry = [q for q in queries if '"forecasting_modelversion"' in q["sql"]]
        registry_queries.append(len(registry))
        registry_bytes.append(_selected_bytes(connection, registry))
    print(f"  forecast_serve, uncached           {_setup.percentiles(times)}")
    print(
        f"  registry reads per uncached call   {sum(registry_queries) / len(times):.2f} "
        f"queries, {sum(registry_bytes) / len(times) / 1024:.2f} KB"
    )


def _selected_bytes(connection, queries) -> int:
    """The bytes those SELECTs return, measured by running them again as text."""
    total = 0
    with connection.cursor() as cursor:
        for query in queries:
            cursor.execute(f"SELECT * FROM ({query['sql']}) q")  # noqa: S608
            for row in cursor.fetchall():
                total += sum(len(str(value)) for value in row if value is not None)
    return total


if __name__ == "__main__":
    main()
