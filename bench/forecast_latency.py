"""Benchmark: in-process latency of forecast_predict (the service the API calls).

Run:  .venv/bin/python bench/forecast_latency.py [--studios 40] [--calls 500]

Set-up trains a model on generated data in a fresh temporary database; then
``--calls`` forecasts over random studios, base months, horizons (1-12) and lever
plans, each logged as in production, and prints p50/p95/p99. The first forecast
for a studio (after start-up or a change to its data) builds the studio's model
context for every base month; later ones reuse it. Both are reported apart, and
together. Target (issue 4): p95 under 20 ms.
"""

import argparse
import random
import time

import _setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=40)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    _setup.setup(args)

    from forecasting.services import forecast_predict
    from studios.models import MonthlyMetric, Studio

    rng = random.Random(args.seed)
    studios = list(Studio.objects.all())
    months = sorted(set(MonthlyMetric.objects.values_list("month_year", flat=True)))[
        24:
    ]
    forecast_predict(studio=studios[0], base_month=months[-1])  # loads the model once

    samples = {"status quo, 3 months": [], "lever plan, 1-12 months": []}
    cold: list[float] = []
    seen: set = set()
    for i in range(args.calls):
        studio, base = rng.choice(studios), rng.choice(months)
        if i % 2 == 0:
            kind, kwargs = "status quo, 3 months", {}
        else:
            kind = "lever plan, 1-12 months"
            kwargs = {
                "months": rng.randint(1, 12),
                "levers": {
                    "retention_rate": rng.uniform(0.85, 0.97),
                    "avg_ticket_price": rng.uniform(90, 280),
                    "new_members_monthly": rng.uniform(10, 50),
                },
            }
        started = time.perf_counter()
        forecast_predict(studio=studio, base_month=base, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        if studio.pk in seen:
            samples[kind].append(elapsed)
        else:
            seen.add(studio.pk)
            cold.append(elapsed)

    print(
        "forecast_predict, in-process, one call at a time (includes the PredictionLog insert)"
    )
    for kind, values in samples.items():
        print(f"  {kind:<34} {_setup.percentiles(values)}")
    warm = sum(samples.values(), [])
    print(f"  {'warm (studio context cached)':<34} {_setup.percentiles(warm)}")
    print(f"  {'cold (first call for a studio)':<34} {_setup.percentiles(cold)}")
    print(f"  {'all calls':<34} {_setup.percentiles(warm + cold)}  target p95 < 20 ms")


if __name__ == "__main__":
    main()
