"""Benchmark: the GraphQL API under a mixed load, end to end over HTTP (SPEC §10).

Run:  .venv/bin/python bench/api_load.py [--studios 40] [--requests 1500]
      [--workers 3] [--clients 2] [--time-cap 300]
      [--database-url postgres://postgres@127.0.0.1:5432/studiosim_bench_api]

With REDIS_URL set (e.g. redis://127.0.0.1:6379/2) the app caches in Redis,
otherwise in each worker's local memory. Set-up (bench/_setup.py): a fresh
database (a temporary SQLite file, or the PostgreSQL database named, dropped and
re-created here and dropped again at the end), generated studios and a trained,
active model; then an owner of every studio with an API token, and a staff token
for the cache counters.

The app runs under gunicorn with the production configuration
(``gunicorn.conf.py``: sync workers, the app preloaded, the start-up heap frozen,
the model loaded by each worker before its first request) on 127.0.0.1 and a
free port, as a subprocess with this environment plus production switches (DEBUG off, a secret
key, the host allowed, no HTTPS redirect, persistent database connections unless
CONN_MAX_AGE is set). A warm-up pass forecasts every studio ten times, so each
worker has (almost surely) built its per-studio model context, as a server that
has been up a while has; it is not measured. Then a
separate process sends a fixed plan of requests (seeded) from ``--clients``
threads, each waiting for its answer before sending the next:

  forward, repeated   35%  one of 40 popular lever plans (cacheable)
  forward, fresh      15%  random levers and horizon (a cache miss)
  inverse, repeated    6%  one of 20 popular targets
  inverse, fresh       6%  a random target and constraints
  studioBaseline      13%
  studios (a page)    12%
  studio (detail)     13%  with its last 12 months and class types

Forward and inverse latencies are split by what the server answered in its
``Cache-Status`` header (hit or miss). Prints p50/p95/p99 per operation as the
clients saw them (connection to last byte) and as gunicorn timed them inside
the server (its access log: parsed request to response sent; the difference is
connecting, waiting for a free worker or CPU, and the client's own work),
requests per second, the prediction cache hit rate seen by the clients, and,
with Redis, the server's own counters over the measured requests (all workers). The server is always
stopped and the temporary directory (database file, model artifacts, server
log) removed. Targets: forward p95 < 50 ms uncached and < 10 ms cached; inverse
p95 < 250 ms. The machine's load average is printed: on a shared machine other
work inflates every figure.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import queue
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import _setup

GRAPHQL_PATH = "/graphql/"
OPERATION_HEADER = "X-Bench-Operation"
# One access-log line per request: the operation the client named, the
# Cache-Status the server answered, and gunicorn's own request time in
# microseconds (from the parsed request to the response written).
SERVER_LOG_FORMAT = "%({x-bench-operation}i)s|%({cache-status}o)s|%(D)s"

FORWARD = """query Forward($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) {
    predictionId totalProjectedRevenue growthRate modelVersion
    predictions { month monthYear revenue memberCount confidenceInterval { lower upper } confidenceScore }
  }
}"""
INVERSE = """query Inverse($input: InversePredictionInput!) {
  inversePrediction(input: $input) {
    optimizationId reachable achievableRevenue projectedRevenue achievementRate message
    bindingConstraints { lever kind }
    leverChanges { lever current recommended changePct impactOnRevenue estimatedCost }
    actionPlan { priority lever action expectedImpact timelineWeeks cost }
    confidenceScore
  }
}"""
BASELINE = """query Baseline($studioId: ID!) {
  studioBaseline(studioId: $studioId) {
    currentMetrics { retentionRate avgTicketPrice totalMembers monthlyRevenue }
    historicalTrends { revenueGrowth12m retentionTrend }
    industryBenchmarks { retentionRatePercentile avgTicketPercentile }
  }
}"""
STUDIOS = """query Studios($pagination: OffsetPaginationInput) {
  studios(pagination: $pagination) { totalCount results { id name studioType city } }
}"""
STUDIO = """query Studio($id: ID!) {
  studio(id: $id) {
    name studioType
    monthlyMetrics(lastMonths: 12) { monthYear totalRevenue totalMembers retentionRate }
    classTypes { className classPrice }
  }
}"""
CACHE_STATS = "query CacheStats { cacheStats { shared { hits misses } } }"

MIX = (
    ("forward, repeated", 0.35),
    ("forward, fresh", 0.15),
    ("inverse, repeated", 0.06),
    ("inverse, fresh", 0.06),
    ("studioBaseline", 0.13),
    ("studios", 0.12),
    ("studio", 0.13),
)
POPULAR_FORWARD = 40
POPULAR_INVERSE = 20
#: Each worker must see each studio once to build its model context; requests
#: go to whichever worker is free, so every studio is forecast this many times.
WARM_UP_ROUNDS = 10


# --- the plan --------------------------------------------------------------------


def _forward_levers(rng: random.Random) -> dict:
    return {
        "retentionRate": round(rng.uniform(0.86, 0.97), 3),
        "avgTicketPrice": round(rng.uniform(90, 280), 2),
        "newMembersMonthly": rng.randint(10, 50),
        "upsellRate": round(rng.uniform(0.1, 0.4), 3),
    }


def _inverse_input(rng: random.Random, studio: str, month: str, revenue: float) -> dict:
    constraints: dict = {"prioritizeLowCostLevers": rng.random() < 0.3}
    if rng.random() < 0.5:
        constraints["maxTicketIncrease"] = rng.choice([5.0, 10.0, 20.0])
        constraints["lockedLevers"] = rng.sample(
            ["RETENTION_RATE", "UPSELL_RATE", "TOTAL_CLASSES_HELD"], k=1
        )
    return {
        "studioId": studio,
        "baseMonth": month,
        "targetRevenue": round(revenue * rng.uniform(0.95, 1.25), 2),
        "targetMonths": 3,
        "constraints": constraints,
    }


def build_plan(
    rng: random.Random, studios: list[str], months: list[str], revenue: dict, n: int
) -> list[tuple[str, str, dict]]:
    """``n`` requests ``(operation, query, variables)`` drawn from :data:`MIX`."""

    def pick() -> tuple[str, str]:
        return rng.choice(studios), rng.choice(months)

    popular_forward = []
    for _ in range(POPULAR_FORWARD):
        studio, month = pick()
        popular_forward.append(
            {"studioId": studio, "baseMonth": month, "levers": _forward_levers(rng)}
        )
    popular_inverse = []
    for _ in range(POPULAR_INVERSE):
        studio, month = pick()
        popular_inverse.append(
            _inverse_input(rng, studio, month, revenue[studio, month])
        )

    kinds, weights = zip(*MIX, strict=True)
    plan = []
    for kind in rng.choices(kinds, weights, k=n):
        studio, month = pick()
        if kind == "forward, repeated":
            plan.append(("forward", FORWARD, {"input": rng.choice(popular_forward)}))
        elif kind == "forward, fresh":
            variables = {
                "studioId": studio,
                "baseMonth": month,
                "projectionMonths": rng.randint(1, 12),
                "levers": _forward_levers(rng),
            }
            plan.append(("forward", FORWARD, {"input": variables}))
        elif kind == "inverse, repeated":
            plan.append(("inverse", INVERSE, {"input": rng.choice(popular_inverse)}))
        elif kind == "inverse, fresh":
            variables = _inverse_input(rng, studio, month, revenue[studio, month])
            plan.append(("inverse", INVERSE, {"input": variables}))
        elif kind == "studioBaseline":
            plan.append(("studioBaseline", BASELINE, {"studioId": studio}))
        elif kind == "studios":
            page = {"offset": rng.randrange(0, len(studios), 10), "limit": 10}
            plan.append(("studios", STUDIOS, {"pagination": page}))
        else:
            plan.append(("studio", STUDIO, {"id": studio}))
    return plan


# --- the client process ----------------------------------------------------------


def _request_bytes(
    port: int, token: str, operation: str, query: str, variables: dict
) -> bytes:
    """The whole HTTP request, built before the clock starts."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    head = (
        f"POST {GRAPHQL_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        # Only for the server's access log (see SERVER_LOG_FORMAT).
        f"{OPERATION_HEADER}: {operation}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _exchange(port: int, request: bytes) -> tuple[int, str, bytes]:
    """Send ``request`` and read the response up to its Content-Length.

    A plain socket rather than http.client: the load generator shares the CPUs
    with the server, so it should spend as little of them as it can (measured
    here: 0.25 ms of CPU per request, against 0.64 ms with http.client and
    json, as this bench first used). It stops at the last byte of the body, not at the connection's
    close, which comes after the server's post-response work.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("connection closed before the response headers")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", 0))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("connection closed before the end of the body")
            body += chunk
    return status, headers.get("cache-status", ""), body


def _answered(status: int, body: bytes) -> bool:
    """A 200 whose GraphQL response carries no errors (parsed only if in doubt)."""
    return status == 200 and (
        b'"errors"' not in body or "errors" not in json.loads(body)
    )


def _post(port: int, token: str, query: str, variables: dict) -> tuple[int, str, dict]:
    """One request outside the measured load (start-up check, cache counters)."""
    status, cache_status, body = _exchange(
        port, _request_bytes(port, token, "-", query, variables)
    )
    return status, cache_status, json.loads(body) if body else {}


def run_load(
    port: int, token: str, plan: list, clients: int, time_cap: float
) -> tuple[list[tuple[str, str, float, bool]], float]:
    """Send ``plan`` from ``clients`` threads, each waiting for its answer.

    Returns ``(operation, Cache-Status, milliseconds, ok)`` per request sent, and
    the wall time. Requests not started within ``time_cap`` seconds are dropped.
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for operation, query, variables in plan:
        todo.put((operation, _request_bytes(port, token, operation, query, variables)))
    results: list[tuple[str, str, float, bool]] = []
    lock = threading.Lock()
    started = time.perf_counter()

    def client() -> None:
        while time.perf_counter() - started < time_cap:
            try:
                operation, request = todo.get_nowait()
            except queue.Empty:
                return
            sent = time.perf_counter()
            try:
                status, cache_status, body = _exchange(port, request)
                elapsed = (time.perf_counter() - sent) * 1000
                ok = _answered(status, body)
            except (OSError, ValueError):
                elapsed = (time.perf_counter() - sent) * 1000
                cache_status, ok = "", False
            with lock:
                results.append((operation, cache_status, elapsed, ok))

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    return results, time.perf_counter() - started


# --- the server ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    port: int, workers: int, log_path: Path, access_log: Path
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("CONN_MAX_AGE", "60")
    log = log_path.open("w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(_setup.ROOT / "gunicorn.conf.py"),
            "studiosim.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            SERVER_LOG_FORMAT,
        ],
        cwd=_setup.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_up(server: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            status, _, _ = _post(port, "", "{ __typename }", {})
        except OSError:
            time.sleep(0.2)
            continue
        if status == 401:  # up, and refusing the empty token as it should
            return
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{log_path.read_text()}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _shared_cache_counts(port: int, staff_token: str) -> dict[str, int]:
    """The server's cache counters kept in the cache itself (cacheStats.shared)."""
    _, _, body = _post(port, staff_token, CACHE_STATS, {})
    shared = body["data"]["cacheStats"]["shared"]
    return {key: shared[key] or 0 for key in ("hits", "misses")}


# --- main ------------------------------------------------------------------------


def _group_name(operation: str, cache_status: str) -> str:
    if not cache_status or cache_status == "-":
        return operation
    return f"{operation} ({'cached' if '; hit' in cache_status else 'uncached'})"


def server_times(access_log: Path, operations: set[str]) -> dict[str, list[float]]:
    """Gunicorn's request time per group, in ms, from :data:`SERVER_LOG_FORMAT`
    lines of the named operations (the warm-up and set-up requests are left out)."""
    groups: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines():
        operation, cache_status, microseconds = line.rsplit("|", 2)
        if operation in operations:
            name = _group_name(operation, cache_status)
            groups.setdefault(name, []).append(int(microseconds) / 1000)
    return groups


def _report(
    results: list, wall: float, planned: int, server: dict[str, list[float]]
) -> None:
    import numpy as np

    print(
        f"\n{len(results)} of {planned} requests in {wall:.1f} s: "
        f"{len(results) / wall:.1f} requests/s"
    )
    groups: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    for operation, cache_status, elapsed, ok in results:
        name = _group_name(operation, cache_status)
        groups.setdefault(name, []).append(elapsed)
        if not ok:
            failures[name] = failures.get(name, 0) + 1
    print("Seen by the clients (connection to last byte):")
    for name in sorted(groups):
        print(f"  {name:<22} {_setup.percentiles(groups[name])}")
    if failures:
        print(f"  failed requests: {failures}")
    print(
        "Inside the server (gunicorn's request time, parsed request to response sent):"
    )
    for name in sorted(server):
        print(f"  {name:<22} {_setup.percentiles(server[name])}")
    predictions = [r for r in results if r[1]]
    hits = sum("; hit" in r[1] for r in predictions)
    print(
        f"Prediction cache hit rate (forward + inverse, from Cache-Status): "
        f"{hits / len(predictions):.1%} ({hits} of {len(predictions)})"
    )
    p95 = {name: float(np.percentile(values, 95)) for name, values in groups.items()}
    for name, target in (
        ("forward (uncached)", 50),
        ("forward (cached)", 10),
        ("inverse (uncached)", 250),
    ):
        if name in p95:
            verdict = "met" if p95[name] < target else "MISSED"
            print(f"Target {name} p95 < {target} ms: {verdict} ({p95[name]:.1f} ms)")


def prepare(args: argparse.Namespace) -> tuple[str, str, list, list]:
    """Users and tokens, then the measured plan and the warm-up, from the data."""
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.db.models import F

    from studios.models import MonthlyMetric, Studio, StudioMembership, StudioRole
    from studios.services import api_token_create

    User = get_user_model()
    owner = User.objects.create_user(username="bench-owner")
    StudioMembership.objects.bulk_create(
        StudioMembership(user=owner, studio=studio, role=StudioRole.OWNER)
        for studio in Studio.objects.all()
    )
    _, token = api_token_create(user=owner, name="bench")
    staff = User.objects.create_user(username="bench-staff", is_staff=True)
    _, staff_token = api_token_create(user=staff, name="bench")

    all_months = sorted(
        MonthlyMetric.objects.dates("month_year", "month"), reverse=True
    )
    months = [f"{m:%Y-%m}" for m in all_months[:24]]
    revenue = {
        (str(row["studio_id"]), f"{row['month']:%Y-%m}"): float(row["revenue"])
        for row in MonthlyMetric.objects.values(
            "studio_id", month=F("month_year"), revenue=F("total_revenue")
        )
    }
    studios = [str(pk) for pk in Studio.objects.values_list("pk", flat=True)]
    plan = build_plan(random.Random(args.seed), studios, months, revenue, args.requests)
    # A different plan each round: an answer from the shared cache would leave
    # the other workers cold.
    warm_up = [
        ("warm-up", FORWARD, {"input": {"studioId": studio, "levers": levers}})
        for levers in ({"upsellRate": 0.1 + 0.02 * i} for i in range(WARM_UP_ROUNDS))
        for studio in studios
    ]
    connections.close_all()  # the server has the database to itself
    return token, staff_token, plan, warm_up


def _load_average() -> str:
    loads = ", ".join(f"{load:.2f}" for load in os.getloadavg())
    return f"load average (1, 5, 15 min) {loads} on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=40)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--time-cap", type=float, default=300.0)
    args = parser.parse_args()
    redis = bool(os.environ.get("REDIS_URL"))

    server = None
    if args.database_url:
        _setup.fresh_postgres(args.database_url)
    try:
        _setup.setup(args)
        workdir = _setup.workdir()
        token, staff_token, plan, warm_up = prepare(args)

        port = _free_port()
        log_path = workdir / "gunicorn.log"
        access_log = workdir / "access.log"
        print(
            f"gunicorn: {args.workers} sync workers on 127.0.0.1:{port}; "
            f"{'PostgreSQL' if args.database_url else 'SQLite'}, cache in "
            f"{'Redis' if redis else 'local memory per worker'}; {args.clients} "
            "client threads in another process"
        )
        server = start_server(port, args.workers, log_path, access_log)
        wait_until_up(server, port, log_path)

        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as client:
            warmed, warm_wall = client.submit(
                run_load, port, token, warm_up, args.workers, args.time_cap
            ).result()
            print(
                f"Warm-up: {len(warmed)} forecasts in {warm_wall:.1f} s (not "
                f"measured); {_load_average()}"
            )
            before = _shared_cache_counts(port, staff_token)
            results, wall = client.submit(
                run_load, port, token, plan, args.clients, args.time_cap
            ).result()
            after = _shared_cache_counts(port, staff_token)
        operations = {operation for operation, _, _ in plan}
        _report(results, wall, len(plan), server_times(access_log, operations))
        if redis:
            hits, misses = (after[k] - before[k] for k in ("hits", "misses"))
            print(
                "Server cache counters over the measured requests (all workers, "
                f"predictions and baselines): {hits} hits, {misses} misses, hit "
                f"rate {hits / (hits + misses):.1%}"
            )
        print(f"At the end: {_load_average()}")
    finally:
        if server is not None:
            stop_server(server)
        _setup.teardown(args)


if __name__ == "__main__":
    main()
