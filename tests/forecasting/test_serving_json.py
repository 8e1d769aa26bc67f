"""A cached answer is rebuilt into the same dataclass the service returned."""

import datetime as dt
import json
from dataclasses import asdict, dataclass

from forecasting.serving import _from_json


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float


@dataclass(frozen=True)
class Month:
    month_year: dt.date
    revenue: float
    interval: Interval | None
    drivers: dict[str, float]
    notes: list[str]


@dataclass(frozen=True)
class Answer:
    base_month: dt.date
    months: list[Month]
    by_lever: dict[str, Interval]
    best: Month | None
    prediction_id: str | None


def _as_json(answer: Answer) -> dict:
    return json.loads(json.dumps(asdict(answer), default=str))


def test_an_answer_survives_the_trip_through_json():
    month = Month(
        month_year=dt.date(2024, 2, 1),
        revenue=1250.5,
        interval=Interval(1100.0, 1400.0),
        drivers={"retention_rate": 0.4},
        notes=["first"],
    )
    answer = Answer(
        base_month=dt.date(2024, 1, 1),
        months=[month, Month(dt.date(2024, 3, 1), 990.0, None, {}, [])],
        by_lever={"upsell_rate": Interval(-1.0, 2.0)},
        best=None,
        prediction_id=None,
    )

    rebuilt = _from_json(Answer, _as_json(answer))

    assert rebuilt == answer
    assert isinstance(rebuilt.months[0].month_year, dt.date)
    assert isinstance(rebuilt.by_lever["upsell_rate"], Interval)


def test_a_rebuilt_answer_shares_nothing_with_the_json_it_came_from():
    data = _as_json(
        Answer(dt.date(2024, 1, 1), [], {}, None, "id"),
    )
    data["months"] = []

    rebuilt = _from_json(Answer, data)
    data["months"].append("changed")

    assert rebuilt.months == []
