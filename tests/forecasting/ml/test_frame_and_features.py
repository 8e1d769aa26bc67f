"""The long-format frame contract and the features' use of history up to t only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.exceptions import FrameError
from forecasting.ml.features import (
    CONTEXT_FEATURES,
    DEFAULT_ATTENDANCE_SHARE,
    attendance_share,
    studio_features,
)
from forecasting.ml.frame import (
    LEVERS,
    METRIC_FIELDS,
    STATIC_COLUMNS,
    check_frame,
    frame_from_generated,
    validate_frame,
)
from studios.generator import generate


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return frame_from_generated(generate(n_studios=4, months=30, seed=3))


def _one_studio(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["unique_id"] == frame["unique_id"].iloc[0]].reset_index(
        drop=True
    )


def _features(history: pd.DataFrame, **params):
    first = history.iloc[0]
    return studio_features(
        {
            name: history[name].to_numpy()
            for name in ("ds", "is_outlier", *METRIC_FIELDS)
        },
        studio_type=first["studio_type"],
        max_capacity=first["max_capacity"],
        square_footage=first["square_footage"],
        opening_date=first["opening_date"],
        **params,
    )


def test_generated_data_becomes_the_contract_frame(frame):
    """Names become unique_id, months become ds, statics are joined, rows sorted."""
    for column in (
        "unique_id",
        "ds",
        *METRIC_FIELDS,
        "is_outlier",
        "split",
        *STATIC_COLUMNS,
    ):
        assert column in frame.columns
    assert "expected_total_revenue" in frame.columns
    assert frame["unique_id"].nunique() == 4
    assert len(frame) == 4 * 30
    assert frame["ds"].dt.is_month_start.all()
    assert set(frame["studio_type"]) <= {
        "yoga",
        "pilates",
        "crossfit",
        "wellness",
        "boutique_fitness",
    }
    assert frame.equals(frame.sort_values(["unique_id", "ds"]).reset_index(drop=True))


def test_studio_type_labels_are_normalised_to_values(frame):
    """Accepts the label "Boutique Fitness" as well as the value."""
    labelled = frame.assign(studio_type="Boutique Fitness")
    assert (validate_frame(labelled)["studio_type"] == "boutique_fitness").all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["total_revenue"]), "missing columns"),
        (lambda f: pd.concat([f, f.iloc[[3]]]), "appears more than once"),
        (lambda f: f.assign(retention_rate=f["retention_rate"] * 100), "fractions"),
        (lambda f: f.assign(new_members=-f["new_members"]), "new_members is negative"),
        (lambda f: f.assign(studio_type="spin"), "studio_type spin is not one of"),
        (lambda f: f.assign(ds=f["ds"] + pd.Timedelta(days=3)), "month starts"),
        (
            lambda f: f.assign(total_revenue=f["total_revenue"].where(f.index != 7)),
            "total_revenue is empty",
        ),
        (
            lambda f: f.assign(max_capacity=np.nan),
            r"max_capacity \(people per class\) is empty",
        ),
        (
            lambda f: f.assign(opening_date=f["opening_date"].where(f.index != 2)),
            "opening_date takes several values",
        ),
    ],
)
def test_a_frame_that_breaks_the_contract_is_refused(frame, change, message):
    """Each breach raises FrameError saying what is wrong."""
    with pytest.raises(FrameError, match=message):
        validate_frame(change(frame))


def test_every_problem_of_a_frame_is_listed_at_once(frame):
    """Two studios with different problems: both named in one error."""
    uids = frame["unique_id"].unique()
    broken = frame.copy()
    broken.loc[broken["unique_id"] == uids[0], "new_members"] = -1.0
    broken.loc[broken["unique_id"] == uids[1], "studio_type"] = "spin"
    checked = check_frame(broken)
    assert set(checked.studio_problems) == {uids[0], uids[1]}
    with pytest.raises(FrameError) as error:
        validate_frame(broken)
    assert uids[0] in str(error.value) and uids[1] in str(error.value)
    assert "new_members is negative" in str(error.value)
    assert "spin" in str(error.value)


def test_optional_metrics_and_statics_may_be_missing(frame):
    """A minimal export: optional columns absent or empty, statics empty, all accepted."""
    minimal = frame.drop(columns=["staff_count", "upsell_rate", "membership_revenue"])
    minimal["retail_revenue"] = np.where(minimal.index % 3 == 0, np.nan, 1.0)
    minimal["square_footage"] = np.nan
    minimal["opening_date"] = pd.NaT
    checked = validate_frame(minimal)
    assert checked["staff_count"].isna().all()
    assert checked["square_footage"].isna().all()
    assert checked["retail_revenue"].isna().sum() == (minimal.index % 3 == 0).sum()


def test_missing_months_become_flagged_interpolated_rows(frame):
    """A gap is filled with a row flagged is_gap and is_outlier; splits recounted."""
    studio = _one_studio(frame)
    holed = studio.drop(index=[10, 11])
    checked = validate_frame(holed, require_split=True)
    assert len(checked) == len(studio)
    gap = checked[checked["is_gap"]]
    assert list(gap.index) == [10, 11]
    assert gap["is_outlier"].all()
    members = studio["total_members"].to_numpy()
    assert gap["total_members"].iloc[0] == pytest.approx(
        members[9] + (members[12] - members[9]) / 3
    )
    assert gap["staff_count"].isna().all()
    assert list(checked["split"].iloc[-6:]) == ["test"] * 6
    assert list(checked["split"].iloc[-12:-6]) == ["validation"] * 6


def test_gaps_in_many_studios_are_filled_as_each_studio_alone(frame):
    """Filled for the whole frame at once, each studio's rows are the ones it
    gets alone: nothing is interpolated across studios, a studio without a gap
    keeps its rows and splits, the statics are carried into the gaps."""
    uids = list(frame["unique_id"].unique())
    position = frame.groupby("unique_id").cumcount()
    holed = frame[
        ~(
            ((frame["unique_id"] == uids[0]) & position.isin([3, 7, 8]))
            | ((frame["unique_id"] == uids[2]) & (position == 20))
        )
    ]
    together = validate_frame(holed, require_split=True)
    assert together["is_gap"].sum() == 4
    for uid in uids:
        alone = validate_frame(holed[holed["unique_id"] == uid], require_split=True)
        mine = together[together["unique_id"] == uid].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            mine.drop(columns="opening_date"), alone.drop(columns="opening_date")
        )
        assert (mine["opening_date"] == alone["opening_date"]).all()
    gaps = together[together["is_gap"]]
    assert (gaps["studio_type"].notna() & gaps["max_capacity"].notna()).all()


def test_a_duplicated_month_beside_missing_ones_is_listed_not_raised(frame):
    """A studio with a month twice and two months missing: check_frame lists the
    duplicate (it raised "cannot reindex on an axis with duplicate labels")."""
    studio = _one_studio(frame)
    broken = pd.concat([studio.drop(index=[10, 12]), studio.iloc[[5]]])
    checked = check_frame(broken)
    [message] = checked.messages()
    assert "the month appears more than once" in message


def test_the_member_flow_residual_is_zero_where_the_identity_holds(frame):
    """Generated data keeps the identity: no residual. A freeze shows as one."""
    studio = _one_studio(frame)
    assert np.allclose(_features(studio).flow, 0.0)
    frozen = studio.copy()
    # 5% of members a month disappear from the count without churning.
    frozen["total_members"] = (
        frozen["total_members"] * 0.95 ** np.arange(len(frozen))
    ).round()
    flow = _features(frozen).flow
    assert flow[-1] < -0.02


def test_the_status_quo_attendance_follows_the_member_count(frame):
    """A studio that lost a third of its members in four months fills fewer
    places than its 12-month mean rate: with ``attendance_follow`` 1 the
    reference rate is scaled by members over their reference level; with 0 (the
    default) it is the mean rate; never above full classes."""
    studio = _one_studio(frame).copy()
    members = studio["total_members"].to_numpy(dtype=float, copy=True)
    members[-4:] = members[-5] * np.array([0.9, 0.8, 0.72, 0.66])
    studio["total_members"] = members.round()
    attendance = LEVERS.index("class_attendance_rate")
    unscaled = _features(studio).reference[-1]
    assert _features(studio, attendance_follow=0.0).reference[-1] == pytest.approx(
        unscaled
    )
    halfway = _features(studio, attendance_follow=0.5).reference[-1]
    scaled = _features(studio, attendance_follow=1.0).reference[-1]
    # the rate alone moves, by members / their 12-month reference (~0.7 here)
    others = np.arange(len(LEVERS)) != attendance
    np.testing.assert_array_equal(scaled[others], unscaled[others])
    ratio = scaled[attendance] / unscaled[attendance]
    assert 0.6 < ratio < 0.85
    assert halfway[attendance] / unscaled[attendance] == pytest.approx(ratio**0.5)
    # members that doubled cannot fill classes past their capacity
    grown = _one_studio(frame).copy()
    grown["total_members"] = grown["total_members"] * np.where(
        np.arange(len(grown)) >= len(grown) - 2, 3.0, 1.0
    )
    assert _features(grown, attendance_follow=2.0).reference[-1][attendance] <= 1.0


def test_unreported_revenue_is_attributed_to_members_and_attendance(frame):
    """Without components, membership = members x ticket and the rest splits."""
    studio = _one_studio(frame)
    bare = studio.copy()
    for column in (
        "membership_revenue",
        "class_pack_revenue",
        "intro_offer_revenue",
        "retail_revenue",
        "upsell_revenue",
        "upsell_rate",
    ):
        bare[column] = np.nan
    features = _features(bare)
    membership_ratio, per_attendance, per_new, per_member, upsell = features.constants[
        -1
    ]
    assert membership_ratio == pytest.approx(1.0)
    assert per_attendance > 0 and per_member > 0
    assert per_new == 0 and upsell == 0
    # upsell cannot be modelled without its revenue; the others can
    known = dict(zip(LEVERS, features.known[-1], strict=True))
    assert (
        not known["upsell_rate"]
        and not features.has_data[-1][LEVERS.index("upsell_rate")]
    )
    assert known["class_attendance_rate"] and known["avg_ticket_price"]


def test_the_attendance_share_is_learned_from_studios_that_report_it(frame):
    """Class packs over the non-membership revenue of reporting months."""
    share = attendance_share(frame)
    expected = (
        frame["class_pack_revenue"].sum()
        / (
            frame["total_revenue"]
            - frame["membership_revenue"]
            - frame["intro_offer_revenue"]
            - frame["upsell_revenue"]
        ).sum()
    )
    assert share == pytest.approx(expected, rel=0.05)
    assert attendance_share(frame.assign(class_pack_revenue=np.nan)) == (
        DEFAULT_ATTENDANCE_SHARE
    )


def test_features_at_t_ignore_every_row_after_t(frame):
    """Changing or dropping months after t leaves the features at t unchanged."""
    history = _one_studio(frame)
    t = 17
    full = _features(history)
    truncated = _features(history.iloc[: t + 1])
    changed = history.copy()
    later = changed.index > t
    for column in ("total_revenue", "avg_ticket_price", "new_members", "total_members"):
        changed.loc[later, column] *= 3.0
    changed.loc[later, "is_outlier"] = True
    perturbed = _features(changed)
    for other in (truncated, perturbed):
        np.testing.assert_array_equal(full.context[: t + 1], other.context[: t + 1])
        np.testing.assert_array_equal(full.constants[: t + 1], other.constants[: t + 1])
        np.testing.assert_array_equal(full.reference[: t + 1], other.reference[: t + 1])


def test_context_has_the_spec_features(frame):
    """The SPEC §4 context features are all present and finite after a year."""
    for name in (
        "members",
        "revenue_prev",
        "retention_3m",
        "retention_momentum",
        "revenue_growth_mom",
        "churn_rate",
        "revenue_per_member",
        "class_utilization_3m",
        "ltv_estimate",
        "staff_per_member",
        "retention_x_ticket",
        "attendance_x_classes",
        "upsell_x_members",
        "age_months",
        "max_capacity",
        "studio_type_code",
    ):
        assert name in CONTEXT_FEATURES
    features = _features(_one_studio(frame))
    columns = [
        CONTEXT_FEATURES.index(name)
        for name in ("retention_momentum", "revenue_growth_mom")
    ]
    assert np.isfinite(features.context[12:, columns]).all()


def _steady(studios: int = 2, months: int = 30) -> pd.DataFrame:
    """Studios with a steady history (+-5% month to month), nothing flagged."""
    rng = np.random.default_rng(7)
    rows = []
    for s in range(studios):
        for t, ds in enumerate(pd.date_range("2022-01-01", periods=months, freq="MS")):
            wobble = 1.0 + 0.05 * np.sin(t) + rng.uniform(-0.01, 0.01)
            rows.append(
                {
                    "unique_id": f"studio-{s}",
                    "ds": ds,
                    "total_members": round(200 * wobble),
                    "new_members": 20,
                    "churned_members": 20,
                    "avg_ticket_price": 150.0,
                    "total_classes_held": 200,
                    "total_class_attendance": round(2800 * wobble),
                    "total_revenue": 40000.0 * wobble,
                    "is_outlier": False,
                    "studio_type": "yoga",
                    "max_capacity": 20,
                }
            )
    return pd.DataFrame(rows)


def test_a_month_that_leaves_the_level_and_returns_is_treated_as_missing():
    """A revenue typo (x25) and a three-month closure nobody flagged become gaps,
    interpolated from the months around them; the other studio is untouched."""
    frame = _steady()
    one = frame["unique_id"] == "studio-0"
    typo = frame.index[one][8]
    closure = frame.index[one][15:18]
    frame.loc[typo, "total_revenue"] *= 25
    frame.loc[closure, ["total_members", "total_revenue", "total_class_attendance"]] = 0
    checked = validate_frame(frame)
    marked = checked.index[checked["is_anomaly"]]
    assert list(marked) == [typo, *closure]
    assert checked.loc[marked, ["is_gap", "is_outlier"]].all().all()
    revenue = frame["total_revenue"].to_numpy()
    assert checked.loc[typo, "total_revenue"] == pytest.approx(
        (revenue[typo - 1] + revenue[typo + 1]) / 2
    )
    assert (checked.loc[closure, "total_members"] > 150).all()
    assert checked.loc[marked, "upsell_rate"].isna().all()
    other = checked[checked["unique_id"] == "studio-1"]
    assert not other["is_anomaly"].any() and not other["is_gap"].any()
    np.testing.assert_array_equal(
        other["total_revenue"].to_numpy(),
        frame.loc[frame["unique_id"] == "studio-1", "total_revenue"].to_numpy(),
    )


def test_a_closure_whose_first_month_was_never_recorded_is_still_set_aside():
    """Two months closed, the first missing from the export: the closed month
    beside the gap is judged against the recorded months around both, set
    aside, and the gap interpolated from the open months, not from the closure."""
    frame = _steady(studios=1)
    frame.loc[16, ["total_members", "total_revenue", "total_class_attendance"]] = 0
    frame = frame.drop(index=15).reset_index(drop=True)
    checked = validate_frame(frame)
    assert list(checked.index[checked["is_gap"]]) == [15, 16]
    assert list(checked.index[checked["is_anomaly"]]) == [16]
    revenue = checked["total_revenue"].to_numpy()
    assert revenue[15] == pytest.approx(revenue[14] + (revenue[17] - revenue[14]) / 3)
    assert revenue[16] == pytest.approx(
        revenue[14] + 2 * (revenue[17] - revenue[14]) / 3
    )
    assert (checked.loc[[15, 16], "total_members"] > 150).all()


@pytest.mark.parametrize(
    ("where", "factor", "months"),
    [
        (-1, 25.0, 1),  # the latest month: a typo cannot be told from a new level
        (10, 2.5, 1),  # within the factor of its neighbours: an ordinary month
        (10, 3.5, 30),  # a level that changes and stays
        (10, 0.0, 4),  # a closure longer than a quarter: left to the screening
    ],
)
def test_a_month_is_left_alone_unless_it_clearly_leaves_and_returns(
    where, factor, months
):
    frame = _steady(studios=1)
    start = where % len(frame)
    frame.loc[start : start + months - 1, "total_revenue"] *= factor
    checked = validate_frame(frame)
    assert not checked["is_anomaly"].any()
    np.testing.assert_allclose(checked["total_revenue"], frame["total_revenue"])


def test_a_flagged_outlier_stays_as_it_was_flagged():
    """Staff's own flag wins: the month keeps its values and is no gap."""
    frame = _steady(studios=1)
    frame.loc[8, "total_revenue"] *= 25
    frame.loc[8, "is_outlier"] = True
    checked = validate_frame(frame)
    assert not checked["is_anomaly"].any() and not checked["is_gap"].any()
    assert checked.loc[8, "total_revenue"] == frame.loc[8, "total_revenue"]


def test_an_export_without_churn_keeps_its_whole_flow_residual():
    """Churn never reported (0, so retention reads 1.0): the residual is the
    churn itself, 40% of the members a month here, and is not cut at 20%."""
    from forecasting.ml.features import member_flow_residual

    months = 24
    members = np.full(months, 200.0)
    new = np.full(months, 80.0)
    retention = np.ones(months)
    flow = member_flow_residual(members, new, retention, np.ones(months, dtype=bool))
    # the median -0.4, shrunk by 12 / (12 + 3) over a full window
    assert flow[-1] == pytest.approx(-0.4 * 12 / 15)


def test_validating_a_validated_frame_changes_nothing():
    """Gaps and anomalies stay what they were (a model validates a served
    history again; they used to come back as ordinary months)."""
    frame = _steady()
    frame.loc[8, "total_revenue"] *= 25
    once = validate_frame(frame.drop(index=[3, 4]))
    assert once["is_gap"].sum() == 3 and once["is_anomaly"].sum() == 1
    twice = validate_frame(once)
    pd.testing.assert_frame_equal(twice, once)


def test_a_season_near_the_factor_is_a_season_in_the_years_it_crosses_it():
    """Annual fees billed every January: 3.5x an ordinary month in 2023 and 2025,
    2.5x (within the factor) in 2024. The Januaries beyond the factor are two
    years apart with none beyond it between: still a season, kept; a one-off in
    another month is still set aside."""
    frame = _steady(studios=1, months=48)
    january = frame["ds"].dt.month == 1
    frame.loc[january, "total_revenue"] *= 2.5
    frame.loc[january & frame["ds"].dt.year.isin([2023, 2025]), "total_revenue"] *= 1.4
    frame.loc[30, "total_revenue"] *= 25  # 2024-07: once
    checked = validate_frame(frame)
    assert list(checked["ds"][checked["is_anomaly"]].dt.strftime("%Y-%m")) == [
        "2024-07"
    ]
    np.testing.assert_allclose(
        checked.loc[january, "total_revenue"], frame.loc[january, "total_revenue"]
    )


def test_a_month_off_every_year_is_a_season_not_an_anomaly():
    """A studio that closes every August keeps its Augusts; a one-off stays out."""
    frame = _steady(studios=1, months=36)
    august = frame.index[frame["ds"].dt.month == 8]
    frame.loc[august, "total_revenue"] = 0.0
    frame.loc[20, "total_revenue"] *= 25  # 2023-09: once
    checked = validate_frame(frame)
    assert list(checked.index[checked["is_anomaly"]]) == [20]
    assert (checked.loc[august, "total_revenue"] == 0).all()
