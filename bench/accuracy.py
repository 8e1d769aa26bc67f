"""Forecast accuracy benchmark of the forward model (no Django needed).

Trains on one generated dataset, evaluates on studios generated with another seed
(validation and test splits, plain and what-if forecasts), prints the full table
and the headline figures against the targets of SPEC §10:

* plain month-1 test MAPE within 1.15x of the noise-free oracle's;
* what-if month-1 test MAPE lower still;
* every horizon beats naive and seasonal-naive on MAPE;
* 80% intervals cover 75-85% of test actuals.

Run from the repository root::

    .venv/bin/python bench/accuracy.py
    .venv/bin/python bench/accuracy.py --train-studios 1000   # fit-time at scale
    .venv/bin/python bench/accuracy.py --latency --compare --test-studios 200
    .venv/bin/python bench/accuracy.py --correction mlp
    .venv/bin/python bench/accuracy.py --compare-corrections ensemble,ensemble_mlp,mlp \
        --seeds 0,1,2

``--compare-corrections`` fits each named correction on the same training studios
with the same seed (so the same cross-conformal folds), evaluates each on the same
held-out studios, repeats that for every seed of ``--seeds`` (training seed s,
evaluation seed 1000 + s), and prints each correction's figures and its paired
difference from the first one named.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting.ml.evaluation import MODES, evaluate, format_report  # noqa: E402
from forecasting.ml.frame import frame_from_generated  # noqa: E402
from forecasting.ml.model import CORRECTIONS, ForwardModel  # noqa: E402
from studios.generator import generate  # noqa: E402

_BASELINES = ("naive", "seasonal_naive", "seasonal_naive_scaled")


def _headlines(report: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for every target of SPEC §10's forecast row."""
    test = report[report["split"] == "test"]

    def at(mode: str, method: str, horizon: int, column: str = "mape") -> float:
        row = test[
            (test["mode"] == mode)
            & (test["method"] == method)
            & (test["horizon"] == horizon)
        ]
        return float(row[column].iloc[0])

    plain_model, plain_oracle = at("plain", "model", 1), at("plain", "oracle", 1)
    what_if = at("what_if", "model", 1)
    out = [
        (
            "plain month-1 test MAPE <= 1.15x oracle",
            plain_model <= 1.15 * plain_oracle,
            f"{100 * plain_model:.2f}% vs oracle {100 * plain_oracle:.2f}% "
            f"= {plain_model / plain_oracle:.3f}x",
        ),
        (
            "what-if month-1 test MAPE < plain",
            what_if < plain_model,
            f"{100 * what_if:.2f}% vs plain {100 * plain_model:.2f}%",
        ),
    ]
    for split in ("validation", "test"):
        rows = report[report["split"] == split]
        for mode in MODES:
            block = rows[rows["mode"] == mode].pivot(
                index="horizon", columns="method", values="mape"
            )
            losses = [
                f"h{h} vs {b}"
                for h in block.index
                for b in _BASELINES
                if block.loc[h, "model"] >= block.loc[h, b]
            ]
            margin = (block[list(_BASELINES)].min(axis=1) / block["model"]).min()
            out.append(
                (
                    f"{mode} {split}: every horizon beats naive and seasonal-naive",
                    not losses,
                    f"worst best-baseline/model MAPE ratio {margin:.2f}"
                    + (f"; loses {', '.join(losses)}" if losses else ""),
                )
            )
    for mode in MODES:
        cover = test[(test["mode"] == mode) & (test["method"] == "model")]
        pooled = (cover["coverage"] * cover["n"]).sum() / cover["n"].sum()
        out.append(
            (
                f"{mode} test: 80% intervals cover 75-85%",
                0.75 <= pooled <= 0.85,
                f"pooled {100 * pooled:.1f}% (per horizon "
                f"{100 * cover['coverage'].min():.0f}-{100 * cover['coverage'].max():.0f}%)",
            )
        )
    return out


def _summary(report: pd.DataFrame) -> str:
    """Month 1/3/6/12 MAPE, mean MAPE over horizons and pooled coverage of the model."""
    rows = report[report["method"] == "model"].set_index("horizon")
    oracle = report[report["method"] == "oracle"].set_index("horizon")["mape"]
    pooled = (rows["coverage"] * rows["n"]).sum() / rows["n"].sum()
    months = " ".join(f"{100 * rows.loc[h, 'mape']:5.2f}%" for h in (1, 3, 6, 12))
    return (
        f"{months}  mean {100 * rows['mape'].mean():5.2f}%  "
        f"h1/oracle {rows.loc[1, 'mape'] / oracle.loc[1]:.3f}x  cover80 {100 * pooled:4.1f}% "
        f"({100 * rows['coverage'].min():.0f}-{100 * rows['coverage'].max():.0f})  "
        f"members h1/h12 {100 * rows.loc[1, 'members_mape']:.2f}%/{100 * rows.loc[12, 'members_mape']:.2f}%"
    )


def _compare(
    train: pd.DataFrame, held_out: pd.DataFrame, args: argparse.Namespace
) -> None:
    """The design comparison of the README: corrections, member correction, plan semantics."""
    print("Design comparison (plain forecasts; MAPE at months 1, 3, 6, 12)")
    variants = {
        "structural only": {"correction": "none"},
        "structural x LightGBM": {"correction": "lightgbm"},
        "structural x ensemble": {"correction": "ensemble"},
        "ensemble, no member correction": {
            "correction": "ensemble",
            "correct_members": False,
        },
        "ensemble, split conformal": {"correction": "ensemble", "calibration_folds": 0},
        "ensemble, studio-fold calibration": {
            "correction": "ensemble",
            "calibration": "studio",
            "calibration_folds": 4,
        },
    }
    chosen: ForwardModel | None = None
    for name, params in variants.items():
        started = time.perf_counter()
        model = ForwardModel(random_state=args.seed, n_jobs=args.n_jobs, **params).fit(
            train
        )
        seconds = time.perf_counter() - started
        if name == "structural x ensemble":
            chosen = model
        for split in ("validation", "test"):
            report = evaluate(model, held_out, split=split, mode="plain")
            print(f"  {name:<31}{split:<11}{_summary(report)}  (fit {seconds:.0f}s)")
    if chosen is None:
        raise RuntimeError("the comparison lost the ensemble variant")
    print("Plan semantics (test split): how the same levers are read")
    for mode, plan in (
        ("plain", "relative"),
        ("plain", "absolute"),
        ("what_if", "absolute"),
        ("what_if", "relative"),
    ):
        report = evaluate(chosen, held_out, split="test", mode=mode, plan=plan)
        print(f"  {mode:<8} levers, {plan:<9} plan  {_summary(report)}")


def _figures(report: pd.DataFrame) -> dict[str, float]:
    """MAPE at months 1/3/6/12, mean over horizons, pooled coverage (model rows)."""
    rows = report[report["method"] == "model"].set_index("horizon")
    figures = {f"m{h}": float(rows.loc[h, "mape"]) for h in (1, 3, 6, 12)}
    figures["mean"] = float(rows["mape"].mean())
    figures["cover"] = float((rows["coverage"] * rows["n"]).sum() / rows["n"].sum())
    return figures


def _compare_corrections(args: argparse.Namespace) -> None:
    """Each correction on the same studios, seeds and folds; paired differences."""
    corrections = [c.strip() for c in args.compare_corrections.split(",") if c]
    unknown = sorted(set(corrections) - set(CORRECTIONS))
    if unknown:
        raise SystemExit(f"unknown corrections {unknown}; choose from {CORRECTIONS}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    print(
        f"Correction comparison: {args.train_studios} training and "
        f"{args.test_studios} evaluation studios x {args.months} months, seeds "
        f"{seeds} (evaluation seed 1000 + s); plain forecasts; MAPE at months "
        "1, 3, 6, 12, mean over 12 horizons, pooled 80% coverage"
    )
    for seed in seeds:
        train = frame_from_generated(
            generate(n_studios=args.train_studios, months=args.months, seed=seed)
        )
        held_out = frame_from_generated(
            generate(n_studios=args.test_studios, months=args.months, seed=1000 + seed)
        )
        for correction in corrections:
            started = time.perf_counter()
            model = ForwardModel(
                correction=correction, random_state=seed, n_jobs=args.n_jobs
            ).fit(train)
            seconds = time.perf_counter() - started
            weights = getattr(model.correction_, "weights", None)
            for split in ("validation", "test"):
                figures = _figures(evaluate(model, held_out, split=split, mode="plain"))
                figures["fit"] = seconds
                results.setdefault((correction, split), []).append(figures)
                print(
                    f"  seed {seed} {correction:<13}{split:<11}"
                    + " ".join(
                        f"{100 * figures[k]:5.2f}%" for k in ("m1", "m3", "m6", "m12")
                    )
                    + f"  mean {100 * figures['mean']:5.2f}%"
                    + f"  cover80 {100 * figures['cover']:4.1f}%"
                    + f"  fit {seconds:5.1f}s"
                    + (
                        "  weights " + "/".join(f"{w:.2f}" for w in weights)
                        if weights is not None and split == "validation"
                        else ""
                    )
                )
    reference = corrections[0]
    print(f"Mean over seeds, and the paired difference from {reference} (- is better):")
    for split in ("validation", "test"):
        for correction in corrections:
            runs = results[(correction, split)]
            mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
            line = (
                f"  {correction:<13}{split:<11}"
                + " ".join(f"{100 * mean[k]:5.2f}%" for k in ("m1", "m3", "m6", "m12"))
                + f"  mean {100 * mean['mean']:5.2f}%  cover80 {100 * mean['cover']:4.1f}%"
                + f"  fit {mean['fit']:5.1f}s"
            )
            if correction != reference:
                base = results[(reference, split)]
                diffs = [
                    100 * (r["mean"] - b["mean"])
                    for r, b in zip(runs, base, strict=True)
                ]
                m1 = [
                    100 * (r["m1"] - b["m1"]) for r, b in zip(runs, base, strict=True)
                ]
                line += (
                    "  vs "
                    + reference
                    + ": mean "
                    + "/".join(f"{d:+.2f}" for d in diffs)
                    + " pts, m1 "
                    + "/".join(f"{d:+.2f}" for d in m1)
                    + " pts per seed"
                )
            print(line)


def _latency(model: ForwardModel, frame: pd.DataFrame) -> None:
    """Median and p95 wall time of the serving calls (one studio, 200 repeats)."""
    history = frame[frame["unique_id"] == frame["unique_id"].iloc[0]]
    base_month = history["ds"].iloc[-7]
    state = model.make_state(history, base_month)
    rng = np.random.default_rng(0)
    plans = state.levers[None, :] * rng.uniform(0.9, 1.1, (500, len(state.levers)))
    plans[:, [0, 2, 4, 5]] = np.clip(plans[:, [0, 2, 4, 5]], 0.0, 1.0)
    monthly = np.repeat(plans[:, None, :], 12, axis=1)
    calls = {
        "make_state (validate + features + correction)": lambda: model.make_state(
            history, base_month
        ),
        "predict 1 plan x 12 months": lambda: model.predict(state, plans[:1], 12),
        "predict 500 plans x 3 months": lambda: model.predict(state, plans, 3),
        "predict 500 month-by-month plans x 12 months": lambda: model.predict(
            state, monthly, 12
        ),
    }
    result = model.predict(state, state.levers[None, :], 12)
    print(
        "Confidence of the status-quo forecast at months 1/3/6/12: "
        + "/".join(f"{result.confidence[0, h - 1]:.2f}" for h in (1, 3, 6, 12))
    )
    print("Latency (one process, 200 calls each):")
    for name, call in calls.items():
        call()
        times = []
        for _ in range(200):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        print(
            f"  {name:<47} median {1e3 * np.median(times):6.2f} ms   "
            f"p95 {1e3 * np.percentile(times, 95):6.2f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-studios", type=int, default=40)
    parser.add_argument("--test-studios", type=int, default=40)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the training studios"
    )
    parser.add_argument(
        "--test-seed", type=int, default=1, help="seed of the evaluation studios"
    )
    parser.add_argument("--correction", default="ensemble", choices=CORRECTIONS)
    parser.add_argument(
        "--compare-corrections",
        metavar="A,B,...",
        help="only compare these corrections (the first is the reference) on the "
        "same studios, seeds and folds, and exit",
    )
    parser.add_argument(
        "--seeds",
        default="0,1,2",
        help="training seeds of --compare-corrections (default 0,1,2)",
    )
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument(
        "--latency", action="store_true", help="also time make_state and predict"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also fit the design variants of the README and print their comparison",
    )
    args = parser.parse_args(argv)
    if args.compare_corrections:
        _compare_corrections(args)
        return 0

    started = time.perf_counter()
    train = frame_from_generated(
        generate(n_studios=args.train_studios, months=args.months, seed=args.seed)
    )
    held_out = frame_from_generated(
        generate(n_studios=args.test_studios, months=args.months, seed=args.test_seed)
    )
    generated = time.perf_counter() - started

    started = time.perf_counter()
    model = ForwardModel(
        correction=args.correction, random_state=args.seed, n_jobs=args.n_jobs
    )
    model.fit(train)
    fit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    report = pd.concat(
        [
            evaluate(model, held_out, split=split, mode=mode)
            for mode in MODES
            for split in ("validation", "test")
        ],
        ignore_index=True,
    )
    evaluate_seconds = time.perf_counter() - started

    print(format_report(report))
    print()
    print(
        f"train: {args.train_studios} studios x {args.months} months (seed {args.seed}); "
        f"evaluated on {args.test_studios} other studios (seed {args.test_seed}); "
        f"correction={args.correction}"
    )
    print(
        f"generate {generated:.1f}s, fit {fit_seconds:.1f}s "
        f"({model.training_summary_['train_pairs']} training pairs), evaluate {evaluate_seconds:.1f}s"
    )
    if args.latency:
        print()
        _latency(model, held_out)
    if args.compare:
        print()
        _compare(train, held_out, args)
    print()
    print("Targets (SPEC §10):")
    all_met = True
    for target, met, measured in _headlines(report):
        all_met &= met
        print(f"  [{'met ' if met else 'MISS'}] {target}: {measured}")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
