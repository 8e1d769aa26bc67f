"""Closed-loop benchmark: plans of the inverse prediction, run in the simulated world.

The generator is also a simulator (SPEC §12): a plan of lever changes can be run
forward from a studio's state, with the world's own responses (a dearer ticket
loses members, a fuller timetable stretches the team, extra marketing saturates
with the market) and its noise. This benchmark generates a chain, trains the
forward model on its history in a fresh database, and for every studio and a
range of targets (month-3 revenue 0% to +15% above the model's status quo) asks
``inverse_predict`` for a plan, then runs that plan in the world from the end of
the studio's history many times (with noise). It prints, per target band:

* how often the world reaches the target with the plan, and with the status quo;
* the mean ratio of achieved to target revenue, plan and status quo;
* with ``--target-probability p``, the same for plans asked to reach the target
  with probability p (``inverse_predict(target_probability=p)``): the share
  reached should be p (within +-7 points, SPEC §12). Figures in
  docs/benchmarks.md.

Run from the repository root::

    .venv/bin/python bench/closed_loop.py
    .venv/bin/python bench/closed_loop.py --studios 40 --draws 200
    .venv/bin/python bench/closed_loop.py --target-probability 0.9 \\
        --reuse /tmp/studiosim-closed-loop-xxxx   # an earlier run's model, no training
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = (0.0, 0.03, 0.06, 0.10, 0.15)
HORIZON = 3


def _setup(args: argparse.Namespace):
    reuse = args.reuse is not None
    workdir = (
        Path(args.reuse)
        if reuse
        else Path(tempfile.mkdtemp(prefix="studiosim-closed-loop-"))
    )
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["MODEL_ARTIFACT_DIR"] = str(workdir / "models")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    from studios.generator import generate_world
    from studios.services import generated_data_load

    data, world, state = generate_world(args.studios, 60, seed=args.seed)
    if reuse:
        print(f"Reusing the chain and model of {workdir}")
        return data, world, state
    call_command("migrate", verbosity=0)
    generated_data_load(data=data)
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        call_command(
            "train_model", force_reason="benchmark", seed=args.seed, stdout=devnull
        )
    print(
        f"{args.studios} generated studios (seed {args.seed}), trained in "
        f"{time.perf_counter() - started:.0f}s; work directory {workdir}"
    )
    return data, world, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studios", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--target-probability", type=float, default=None)
    parser.add_argument(
        "--reuse",
        metavar="WORK_DIR",
        default=None,
        help="the work directory of an earlier run with the same --studios and "
        "--seed: its chain and trained model, no training",
    )
    parser.add_argument(
        "--response-error",
        type=float,
        default=None,
        help="override the model's relative lever-response error (a sensitivity "
        "check; default: the model's own)",
    )
    args = parser.parse_args(argv)
    data, world, state = _setup(args)

    from forecasting.ml.frame import LEVERS
    from forecasting.services import forecast_predict
    from optimization.services import inverse_predict
    from studios.generator.simulate import restrict, run_plan
    from studios.models import Studio
    from studios.selectors import metric_latest_month

    takes_probability = (
        "target_probability" in inspect.signature(inverse_predict).parameters
    )
    if args.target_probability is not None and not takes_probability:
        print("inverse_predict takes no target_probability here: plain plans only")
    if args.response_error is not None:
        from forecasting.registry import active_model

        active_model().model.response_error = args.response_error
        print(f"Relative lever-response error set to {args.response_error}")
    studios = {s.name: s for s in Studio.objects.all()}
    rng = np.random.default_rng(args.seed)
    rows = []
    started = time.perf_counter()
    for i, name in enumerate(data.studios["name"]):
        studio = studios[name]
        base = metric_latest_month(studio=studio)
        status_quo = forecast_predict(
            studio=studio, base_month=base, months=HORIZON, log=False
        )
        today = status_quo.base_levers
        one_world, one_state = restrict(world, state, np.array([i]))
        draws = np.array(
            [
                run_plan(one_world, one_state, HORIZON, rng=rng)["total_revenue"][0, -1]
                for _ in range(args.draws)
            ]
        )
        for uplift in TARGETS:
            target = status_quo.predictions[-1].revenue * (1.0 + uplift)
            kwargs = {}
            if args.target_probability is not None and takes_probability:
                kwargs["target_probability"] = args.target_probability
            plan = inverse_predict(
                studio=studio,
                base_month=base,
                target_revenue=target,
                target_months=HORIZON,
                log=False,
                **kwargs,
            )
            changes = {
                lever: plan.recommended_levers[lever] - today[lever]
                for lever in LEVERS
                if plan.recommended_levers.get(lever) is not None
                and today.get(lever) is not None
                and plan.recommended_levers[lever] != today[lever]
            }
            achieved = np.array(
                [
                    run_plan(one_world, one_state, HORIZON, changes, rng=rng)[
                        "total_revenue"
                    ][0, -1]
                    for _ in range(args.draws)
                ]
            )
            rows.append(
                {
                    "uplift": uplift,
                    "reachable": plan.reachable,
                    "plan_reached": float(np.mean(achieved >= target)),
                    "plan_ratio": float(np.mean(achieved / target)),
                    "status_quo_reached": float(np.mean(draws >= target)),
                    "status_quo_ratio": float(np.mean(draws / target)),
                    "levers": sorted(changes),
                }
            )
    print(
        f"{len(rows)} plans x {args.draws} draws in {time.perf_counter() - started:.0f}s"
        + (
            f"; plans asked to reach the target with probability "
            f"{args.target_probability:.0%}"
            if args.target_probability is not None and takes_probability
            else "; plans that reach the target in expectation"
        )
    )
    print(
        f"\n{'target vs status quo':>21}{'plans':>7}{'reachable':>11}"
        f"{'reached: plan':>15}{'status quo':>12}{'achieved/target: plan':>23}"
        f"{'status quo':>12}"
    )
    for uplift in TARGETS:
        block = [r for r in rows if r["uplift"] == uplift]
        reachable = [r for r in block if r["reachable"]]
        if not reachable:
            continue
        print(
            f"{uplift:>20.0%} {len(block):>6}{len(reachable):>11}"
            f"{np.mean([r['plan_reached'] for r in reachable]):>15.1%}"
            f"{np.mean([r['status_quo_reached'] for r in reachable]):>12.1%}"
            f"{np.mean([r['plan_ratio'] for r in reachable]):>23.3f}"
            f"{np.mean([r['status_quo_ratio'] for r in reachable]):>12.3f}"
        )
    reachable = [r for r in rows if r["reachable"] and r["uplift"] > 0]
    reached = float(np.mean([r["plan_reached"] for r in reachable]))
    print(
        f"\nReachable targets above the status quo: the world reaches them "
        f"{reached:.1%} of the time with the plan"
    )
    if args.target_probability is not None and takes_probability:
        met = abs(reached - args.target_probability) <= 0.07
        print(
            f"  [{'met ' if met else 'MISS'}] stated probability "
            f"{args.target_probability:.0%}, achieved {reached:.1%} (target +-7 points)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
