"""Frame validation on a large patchy export: how long ``check_frame`` takes.

Makes a chain's export with :mod:`studios.messy` (missing months, optional columns
patchy, member counts off the identity), converts it to the long-format frame and
times :func:`forecasting.ml.frame.check_frame` on it, the first step of every
training run, evaluation and batch forecast of such data. Prints rows, missing
months filled, and the best and median of the repeats.

Run from the repository root::

    .venv/bin/python bench/frame_check.py              # 2,000 studios
    .venv/bin/python bench/frame_check.py --studios 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecasting.ml.frame import check_frame  # noqa: E402
from studios.messy import messy_export  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studios", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    export = messy_export(args.studios, seed=args.seed)
    frame = export.frame.rename(columns={"studio_name": "unique_id"})
    frame["ds"] = pd.to_datetime(frame.pop("month_year"))
    frame["is_outlier"] = False
    print(
        f"Export: {args.studios} messy studios, {len(frame):,} rows "
        f"(made in {time.perf_counter() - started:.1f}s)"
    )
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        checked = check_frame(frame)
        times.append(time.perf_counter() - started)
    gaps = int(checked.frame["is_gap"].sum())
    print(
        f"check_frame: {len(checked.frame):,} rows out, {gaps:,} missing months filled, "
        f"{len(checked.messages())} problems; best {min(times):.2f}s, "
        f"median {statistics.median(times):.2f}s over {args.repeats} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
