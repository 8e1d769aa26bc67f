"""Learning curve: held-out accuracy, training time and memory against training studios.

Generates a pool of studios (seed 0) and a held-out chain (another seed); for each
size, trains the forward model on a stratified sample of that many pool studios
(``forecasting.ml.sampling.stratified_studio_sample``, as ``train_model`` does
with ``TRAIN_MAX_STUDIOS``) in a child process, and prints the fit's wall time,
the child's peak memory, and plain-forecast MAPE at months 1/3/6/12 and 80%
interval coverage on the held-out studios' test months (studios the model never
saw, as most studios of a capped chain are). The size where accuracy stops
improving is where the training cap belongs (SPEC §15).

Run from the repository root::

    .venv/bin/python bench/learning_curve.py                        # 250,500,1000,2000
    .venv/bin/python bench/learning_curve.py --sizes 250,1000,4000 --n-jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _one(args: argparse.Namespace) -> None:
    """Train on ``args.one`` pool studios and print a JSON line of figures."""
    import numpy as np

    from forecasting.ml.evaluation import evaluate
    from forecasting.ml.frame import frame_from_generated
    from forecasting.ml.model import ForwardModel
    from forecasting.ml.sampling import stratified_studio_sample
    from studios.generator import generate

    pool = frame_from_generated(
        generate(n_studios=args.pool, months=args.months, seed=args.seed)
    )
    train = stratified_studio_sample(pool, args.one, seed=args.seed)
    del pool
    held_out = frame_from_generated(
        generate(n_studios=args.test_studios, months=args.months, seed=args.test_seed)
    )
    started = time.perf_counter()
    model = ForwardModel(random_state=args.seed, n_jobs=args.n_jobs).fit(train)
    fit_seconds = time.perf_counter() - started
    table = evaluate(
        model, held_out, split="test", mode="plain", horizons=(1, 3, 6, 12)
    )
    rows = table[table["method"] == "model"].set_index("horizon")
    pooled = float((rows["coverage"] * rows["n"]).sum() / rows["n"].sum())
    print(
        json.dumps(
            {
                "studios": int(train["unique_id"].nunique()),
                "fit_seconds": fit_seconds,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "mape": {int(h): float(rows.loc[h, "mape"]) for h in rows.index},
                "coverage": pooled,
                "naive_h1": float(
                    table[(table["method"] == "naive") & (table["horizon"] == 1)][
                        "mape"
                    ].iloc[0]
                ),
                "mean_mape": float(np.mean(rows["mape"])),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000,2000")
    parser.add_argument("--test-studios", type=int, default=200)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-seed", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.one:
        _one(args)
        return 0
    pool = max(sizes)
    print(
        f"Pool: {pool} generated studios x {args.months} months (seed {args.seed}); "
        f"held out: {args.test_studios} studios (seed {args.test_seed}); "
        f"n_jobs={args.n_jobs}; each size trained in its own process"
    )
    print(
        f"{'studios':>8} {'fit':>8} {'peak MB':>8} {'h1':>7} {'h3':>7} {'h6':>7} "
        f"{'h12':>7} {'mean':>7} {'cover80':>8} {'naive h1':>9}"
    )
    for size in sizes:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--pool",
                str(pool),
                "--test-studios",
                str(args.test_studios),
                "--months",
                str(args.months),
                "--seed",
                str(args.seed),
                "--test-seed",
                str(args.test_seed),
                "--n-jobs",
                str(args.n_jobs),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if done.returncode != 0:
            print(done.stderr[-2000:])
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        m = r["mape"]
        print(
            f"{r['studios']:>8} {r['fit_seconds']:>7.0f}s {r['peak_mb']:>8.0f} "
            f"{100 * m['1']:>6.2f}% {100 * m['3']:>6.2f}% {100 * m['6']:>6.2f}% "
            f"{100 * m['12']:>6.2f}% {100 * r['mean_mape']:>6.2f}% "
            f"{100 * r['coverage']:>7.1f}% {100 * r['naive_h1']:>8.2f}%",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
