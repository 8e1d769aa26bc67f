"""Benchmark: what one GraphQL document costs the server, against its estimated cost.

Run:  .venv/bin/python bench/query_cost.py [--studios 24] [--repeat 5]
      [--database-url postgres://postgres@127.0.0.1:5432/studiosim_bench_cost]

Set-up (bench/_setup.py): a fresh database, generated studios and a trained,
active model; a staff user with an API token. Each document is posted through
Django's WSGI handler in this process (the view, the guard, the schema, the
resolvers; no network), ``--repeat`` times, with the document limits switched
off so that what they would refuse is measured too, and each document made
unique (its operation's name) so that neither the parser's nor the
validation's cache answers;
the median wall time is printed beside ``studiosim.graphql_security.document_cost``'s estimate and the
time per unit of cost. Predictions are sent with fresh inputs each time, so
they are uncached (the expensive case the weights in ``FIELD_COSTS`` stand for).
The last column says whether the limits refuse the document. On a shared
machine other work inflates every figure: the load average is printed.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _setup  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=24)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.database_url:
        _setup.fresh_postgres(args.database_url)
    os.environ.setdefault("SECRET_KEY", "bench-only")
    try:
        _setup.setup(args)
        run(args)
    finally:
        _setup.teardown(args)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.test import Client
    from graphql import parse

    from forecasting.services import forecast_predict
    from scenarios.services import scenario_save
    from studios.models import MonthlyMetric, Studio
    from studios.services import api_token_create
    from studiosim import graphql_security
    from tests.factories import StaffUserFactory

    settings.ALLOWED_HOSTS = ["*"]
    settings.SECURE_SSL_REDIRECT = False
    rng = random.Random(args.seed)
    staff = StaffUserFactory(username="bench-staff", is_superuser=True)
    _, key = api_token_create(user=staff, name="bench")
    client = Client()
    studios = list(Studio.objects.order_by("name"))
    month = MonthlyMetric.objects.latest("month_year").month_year
    scenarios = []
    for retention in (0.9, 0.95):
        log = forecast_predict(
            studio=studios[0],
            base_month=month,
            levers={"retention_rate": retention},
            user=staff,
        )
        scenarios.append(
            scenario_save(
                user=staff,
                studio=studios[0],
                prediction_id=log.prediction_id,
                name=f"bench {retention}",
            )
        )

    def levers() -> dict:
        return {
            "retentionRate": rng.uniform(0.8, 0.97),
            "avgTicketPrice": rng.uniform(90, 280),
        }

    sid = lambda: str(rng.choice(studios).pk)  # noqa: E731
    cases: list[tuple[str, callable]] = []
    for n in (100, 250, 600):
        cases.append(
            (f"{n} duplicated fields", lambda n=n: ("{ " + "__typename " * n + "}", {}))
        )
    for limit, fields in ((20, 4), (100, 4)):
        cases.append(
            (
                f"studios page {limit} x {fields} fields",
                lambda limit=limit, fields=fields: (
                    f"{{ studios(pagination: {{limit: {limit}}}) {{ results {{ "
                    + " ".join(["id", "name", "city", "state"][:fields])
                    + " } } }",
                    {},
                ),
            )
        )
    metric_fields = "monthYear totalMembers totalRevenue retentionRate avgTicketPrice"
    for limit, last in ((24, 12), (24, 60)):
        cases.append(
            (
                f"{limit} studios x {last} months x 5 fields",
                lambda limit=limit, last=last: (
                    f"{{ studios(pagination: {{limit: {limit}}}) {{ results {{ id "
                    f"monthlyMetrics(lastMonths: {last}) {{ {metric_fields} }} }} }} }}",
                    {},
                ),
            )
        )
    cases += [
        (
            "forwardPrediction (uncached)",
            lambda: (
                "query($i: ForwardPredictionInput!) { forwardPrediction(input: $i) "
                "{ totalProjectedRevenue predictions { revenue confidenceInterval { lower upper } } } }",
                {"i": {"studioId": sid(), "levers": levers()}},
            ),
        ),
        (
            "inversePrediction (uncached)",
            lambda: (
                "query($i: InversePredictionInput!) { inversePrediction(input: $i) "
                "{ achievableRevenue leverChanges { lever recommended } } }",
                {
                    "i": {
                        "studioId": sid(),
                        "targetRevenue": rng.uniform(30_000, 90_000),
                    }
                },
            ),
        ),
        (
            "leverImpactAnalysis",
            lambda: (
                "query($s: ID!) { leverImpactAnalysis(studioId: $s) "
                "{ leverImpacts { lever impactScore } } }",
                {"s": sid()},
            ),
        ),
        (
            "studioBaseline",
            lambda: (
                "query($s: ID!) { studioBaseline(studioId: $s) "
                "{ currentMetrics { totalMembers } } }",
                {"s": sid()},
            ),
        ),
        (
            "compareScenarios (2)",
            lambda: (
                "query($ids: [ID!]!) { compareScenarios(ids: $ids) "
                "{ verdicts { scenarioId } } }",
                {"ids": [str(s.pk) for s in scenarios]},
            ),
        ),
        (
            "generateInsights (rules)",
            lambda: (
                "mutation($s: ID!) { generateInsights(scenarioId: $s) { source } }",
                {"s": str(scenarios[0].pk)},
            ),
        ),
        (
            "modelPerformance",
            lambda: ("{ modelPerformance { modelVersion } }", {}),
        ),
    ]

    # The first request of a process pays for loading the model and warming
    # the ORM; it is not measured.
    client.post(
        "/graphql/",
        json.dumps({"query": "{ studios { totalCount } }"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    limits = (graphql_security.MAX_FIELDS, graphql_security.MAX_QUERY_COST)
    print(
        f"\n{'document':38} {'median ms':>10} {'est. cost':>10} {'us/unit':>8}  "
        f"refused at MAX_FIELDS={limits[0]}, MAX_QUERY_COST={limits[1]:,}"
    )
    for name, make in cases:
        query, _ = make()
        fields, cost = graphql_security.document_cost(parse(query), max_fields=10**9)
        refused = fields > limits[0] or cost > limits[1]
        graphql_security.MAX_FIELDS = graphql_security.MAX_QUERY_COST = 10**12
        try:
            times = []
            for attempt in range(args.repeat):
                query, variables = make()
                # A new operation name makes each document new to the parser
                # and validation caches, as an abuser's variations would be.
                query = _named(query, f"Bench{attempt}")
                started = time.perf_counter()
                response = client.post(
                    "/graphql/",
                    json.dumps({"query": query, "variables": variables}),
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {key}"},
                )
                times.append((time.perf_counter() - started) * 1000)
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise SystemExit(f"{name}: {response.status_code} {body}")
        finally:
            graphql_security.MAX_FIELDS, graphql_security.MAX_QUERY_COST = limits
        median = statistics.median(times)
        print(
            f"{name:38} {median:10.1f} {cost:10,} {1000 * median / cost:8.1f}  "
            f"{'refused' if refused else 'served'}"
        )
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _named(query: str, name: str) -> str:
    """``query`` with its operation named ``name``."""
    for keyword in ("query", "mutation"):
        if query.startswith(keyword):
            return f"{keyword} {name}{query[len(keyword) :]}"
    return f"query {name} {query}"


if __name__ == "__main__":
    main()
