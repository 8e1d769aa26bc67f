"""Benchmark: a fresh gunicorn worker's first requests, and a full garbage collection
in a worker, with gunicorn's defaults and with the production ``gunicorn.conf.py``.

Run:  .venv/bin/python bench/cold_start.py [--studios 12] [--rounds 5]
      [--database-url postgres://postgres@127.0.0.1:5432/studiosim_bench_cold]

A server that has just started (a deploy, a restart, a worker recycled after a
crash) answers its first requests while it is still importing and loading. Set-up
as the other benchmarks (a temporary SQLite file unless ``--database-url``,
generated studios, a trained and active model, an API token), then ``--rounds``
times for each configuration: start gunicorn with one sync worker on 127.0.0.1,
wait until its port accepts a connection (no request, which would warm it),
send a forward prediction, then 20 more, each with levers not asked before (cache
misses, so the difference is start-up, not caching), and stop it. Prints per
configuration the time from start to accepting connections, the first request's
latency (median and worst over the rounds) and the median of the requests after
it.

Then, in a process set up as a worker is (Django, the URLconf and the schema, the
model loaded, one forecast made), the cost of a full collection of the garbage
collector (``gc.collect()``, what Python runs now and then on its own), with the
heap as it is and after ``gc.freeze()``, which the production configuration does in
the master before forking.
"""

import argparse
import gc
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import _setup

FORWARD = (
    "query($input: ForwardPredictionInput!) { forwardPrediction(input: $input) "
    "{ totalProjectedRevenue } }"
)
REQUESTS_AFTER_FIRST = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),
    }


def _forward_ms(port: int, token: str, studio: str, upsell: float) -> float:
    body = json.dumps(
        {
            "query": FORWARD,
            "variables": {
                "input": {"studioId": studio, "levers": {"upsellRate": upsell}}
            },
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql/",
        body,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    elapsed = (time.perf_counter() - started) * 1000
    if "errors" in payload:
        raise SystemExit(f"The server answered an error: {payload['errors']}")
    return elapsed


def one_round(
    config: Path, workdir: Path, token: str, studio: str, round_: int
) -> tuple[float, float, list[float]]:
    """Start a one-worker server with ``config``; (seconds to accept connections,
    first request ms, later requests ms)."""
    port = _free_port()
    log = (workdir / "gunicorn.log").open("w")
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "studiosim.wsgi:application",
        ],
        cwd=_setup.ROOT,
        env=_server_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit((workdir / "gunicorn.log").read_text()[-3000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        up = time.perf_counter() - started
        # Distinct levers per round and request: every request is a cache miss.
        base = 0.10 + round_ * 0.002
        first = _forward_ms(port, token, studio, base)
        later = [
            _forward_ms(port, token, studio, base + 0.00005 * (i + 1))
            for i in range(REQUESTS_AFTER_FIRST)
        ]
        return up, first, later
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _collect_ms() -> float:
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


def worker_like_collections(studio: str, queue) -> None:
    """In a fresh process: set up as a worker is, then time full collections."""
    import django

    sys.path.insert(0, str(_setup.ROOT))
    django.setup()
    from django.urls import get_resolver

    from forecasting.services import forecast_predict
    from studios.models import Studio
    from studios.selectors import metric_latest_month

    get_resolver().url_patterns  # noqa: B018 - the schema, as a worker imports it
    instance = Studio.objects.get(pk=studio)
    forecast_predict(
        studio=instance,
        base_month=metric_latest_month(studio=instance),
        levers={"upsell_rate": 0.2},
        months=3,
        coverage=0.8,
        include_intervals=True,
        log=False,
    )
    tracked = len(gc.get_objects())
    as_is = [_collect_ms() for _ in range(3)]
    gc.freeze()
    frozen = [_collect_ms() for _ in range(3)]
    queue.put((tracked, gc.get_freeze_count(), as_is, frozen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=12)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    if args.database_url:
        _setup.fresh_postgres(args.database_url)
    try:
        _setup.setup(args)
        workdir = _setup.workdir()
        from django.contrib.auth import get_user_model
        from django.db import connections

        from studios.models import Studio
        from studios.services import api_token_create

        staff = get_user_model().objects.create_user(
            username="bench-staff", is_staff=True
        )
        _, token = api_token_create(user=staff, name="bench")
        studio = str(Studio.objects.order_by("name").values_list("pk", flat=True)[0])
        connections.close_all()

        defaults = Path(tempfile.mkdtemp(dir=workdir)) / "gunicorn.conf.py"
        defaults.write_text("# gunicorn's defaults\n")
        configs = {
            "gunicorn defaults": defaults,
            "gunicorn.conf.py": _setup.ROOT / "gunicorn.conf.py",
        }
        print(
            f"One sync worker per start, {args.rounds} starts per configuration; "
            f"{'PostgreSQL' if args.database_url else 'SQLite'}; each request a "
            f"cache miss; load average {os.getloadavg()[0]:.2f} on "
            f"{os.cpu_count()} CPUs"
        )
        for index, (name, config) in enumerate(configs.items()):
            rounds = [
                one_round(config, workdir, token, studio, index * args.rounds + r)
                for r in range(args.rounds)
            ]
            ups, firsts, laters = zip(*rounds, strict=True)
            later = [ms for round_ in laters for ms in round_]
            print(
                f"  {name:18}  accepting after {statistics.median(ups):4.2f} s;  "
                f"first request {statistics.median(firsts):6.1f} ms "
                f"(worst {max(firsts):6.1f});  the {REQUESTS_AFTER_FIRST} after it "
                f"{statistics.median(later):5.1f} ms (median)"
            )

        spawn = multiprocessing.get_context("spawn")
        queue = spawn.Queue()
        process = spawn.Process(target=worker_like_collections, args=(studio, queue))
        process.start()
        tracked, frozen_count, as_is, frozen = queue.get(timeout=300)
        process.join()
        print(
            f"A full collection in a process set up as a worker ({tracked:,} objects "
            f"tracked): {statistics.median(as_is):.1f} ms as is, "
            f"{statistics.median(frozen):.1f} ms after gc.freeze() ({frozen_count:,} "
            "frozen); medians of 3"
        )
        print(f"At the end: load average {os.getloadavg()[0]:.2f}")
    finally:
        _setup.teardown(args)


if __name__ == "__main__":
    main()
