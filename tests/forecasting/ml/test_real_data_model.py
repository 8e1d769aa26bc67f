"""The forward model on data unlike the generator's (SPEC §11): missing optional
inputs, missing months, unusable studios, member counts that break the identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.corrections import stacking_weights
from forecasting.ml.evaluation import evaluate
from forecasting.ml.exceptions import FrameError, InsufficientHistoryError
from forecasting.ml.frame import LEVERS, OPTIONAL_METRICS, frame_from_generated
from forecasting.ml.model import ForwardModel
from studios.dropin import dropin_export
from studios.generator import generate
from studios.messy import messy_export, recent_months
from studios.walk import walk_export

pytestmark = pytest.mark.slow

_UPSELL = LEVERS.index("upsell_rate")


def export_frame(export) -> pd.DataFrame:
    """An export (studios.messy, studios.walk) as the frame the selectors build
    from the database, without the studios it made unusable on purpose."""
    frame = export.frame.rename(
        columns={"studio_name": "unique_id", "month_year": "ds"}
    )
    frame["ds"] = pd.to_datetime(frame["ds"])
    frame["is_outlier"] = False
    frame["split"] = "train"
    return frame[~frame["unique_id"].isin(export.unusable)].reset_index(drop=True)


def messy_frame(n_studios: int, seed: int) -> pd.DataFrame:
    return export_frame(messy_export(n_studios, seed=seed, unusable=0))


@pytest.fixture(scope="module")
def patchy() -> pd.DataFrame:
    """Eight generated studios: optional columns absent for some, patchy for others."""
    frame = frame_from_generated(generate(n_studios=8, months=36, seed=21))
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("expected_")])
    rng = np.random.default_rng(0)
    uids = frame["unique_id"].unique()
    for i, uid in enumerate(uids):
        rows = frame["unique_id"] == uid
        if i % 3 == 0:  # a system that exports none of them
            frame.loc[rows, list(OPTIONAL_METRICS)] = np.nan
            frame.loc[rows, ["square_footage", "opening_date"]] = np.nan
        elif i % 3 == 1:  # one that forgets some, some months
            holes = rows & (rng.random(len(frame)) < 0.3)
            frame.loc[holes, ["upsell_rate", "staff_count", "retail_revenue"]] = np.nan
    # and one studio misses two months
    first = frame.index[frame["unique_id"] == uids[1]]
    return frame.drop(index=first[[10, 11]]).reset_index(drop=True)


@pytest.fixture(scope="module")
def patchy_model(patchy) -> ForwardModel:
    return ForwardModel(random_state=0, n_estimators=60).fit(patchy)


def test_a_model_trains_and_forecasts_with_whatever_each_studio_has(
    patchy, patchy_model
):
    """Every studio gets a finite, positive forecast with an interval."""
    for _, history in patchy.groupby("unique_id"):
        state = patchy_model.make_state(history, history["ds"].max())
        result = patchy_model.predict(state, state.levers, horizon=6)
        assert np.isfinite(result.revenue).all() and (result.revenue > 0).all()
        assert (result.revenue_lower < result.revenue).all()
        assert (result.revenue < result.revenue_upper).all()
    assert patchy_model.excluded_ == {}


def test_a_lever_without_data_is_not_modelled_and_held(patchy, patchy_model):
    """No upsell data: the plan's upsell changes nothing, and the state says why."""
    bare = patchy["unique_id"].unique()[0]
    history = patchy[patchy["unique_id"] == bare]
    state = patchy_model.make_state(history, history["ds"].max())
    assert not state.has_data[_UPSELL] and not state.known[_UPSELL]
    plans = np.repeat(state.levers[None, :], 2, axis=0)
    plans[1, _UPSELL] = 0.9
    revenue = patchy_model.predict(state, plans, horizon=3).revenue
    np.testing.assert_array_equal(revenue[0], revenue[1])
    # a studio that reports upsell revenue: the same change moves its forecast
    full = patchy["unique_id"].unique()[2]
    history = patchy[patchy["unique_id"] == full]
    state = patchy_model.make_state(history, history["ds"].max())
    assert state.known[_UPSELL]
    plans = np.repeat(state.levers[None, :], 2, axis=0)
    plans[1, _UPSELL] = min(1.0, plans[1, _UPSELL] + 0.1)
    revenue = patchy_model.predict(state, plans, horizon=3).revenue
    assert (revenue[1] > revenue[0]).all()


def test_a_month_missing_from_the_history_is_no_base_month(patchy, patchy_model):
    """A filled gap is interpolated context, never a month to forecast from."""
    uid = patchy["unique_id"].unique()[1]
    history = patchy[patchy["unique_id"] == uid]
    gap = pd.Timestamp(history["ds"].iloc[9]) + pd.DateOffset(months=1)
    with pytest.raises(InsufficientHistoryError, match="no data for base month"):
        patchy_model.make_state(history, gap)
    states = patchy_model.states_for_frame(history)
    assert (uid, gap) not in states


def test_a_studio_context_builds_the_batch_states_one_month_at_a_time(
    patchy, patchy_model
):
    """What a service keeps per studio: features once, the learners for a base
    month only when it is asked for; each state equals states_for_frame's, and a
    month no forecast can start from (a gap, too early, outside) has none."""
    uid = patchy["unique_id"].unique()[1]
    history = patchy[patchy["unique_id"] == uid]
    batch = patchy_model.states_for_frame(history)
    context = patchy_model.studio_context(history)
    assert context.unique_id == uid and context.built == 0
    for (_, month), expected in batch.items():
        state = context.state(month)
        for name in (
            "levers",
            "reference",
            "constants",
            "revenue_correction",
            "members_correction",
            "absolute_correction",
        ):
            np.testing.assert_array_equal(getattr(state, name), getattr(expected, name))
        assert (state.members, state.flow, state.peak_members, state.seen) == (
            expected.members,
            expected.flow,
            expected.peak_members,
            expected.seen,
        )
    assert context.built == len(batch)
    assert context.state(next(iter(batch))[1]) is context.state(next(iter(batch))[1])
    assert context.built == len(batch)
    gap = pd.Timestamp(history["ds"].iloc[9]) + pd.DateOffset(months=1)
    first = pd.Timestamp(history["ds"].min())
    for month, why in (
        (gap, f"{gap:%Y-%m} is missing from its data"),
        (first, "a forecast needs at least 3 months of history"),
        (first - pd.DateOffset(months=1), "its history covers"),
        (pd.Timestamp(history["ds"].max()) + pd.DateOffset(months=1), "covers"),
    ):
        assert context.state(month) is None
        assert why in context.why_not(month)
    assert context.why_not(next(iter(batch))[1]) is None
    with pytest.raises(FrameError, match="exactly one studio"):
        patchy_model.studio_context(patchy)


def test_a_base_month_that_leaves_the_studios_level_is_named(patchy, patchy_model):
    """The latest month has no month after it, so a typo there cannot be set
    aside; the answer names it (against the month before and the 12-month
    median) instead of forecasting from it silently."""
    uid = patchy["unique_id"].unique()[2]
    history = patchy[patchy["unique_id"] == uid].reset_index(drop=True)
    last = history["ds"].max()
    assert patchy_model.studio_context(history).base_month_notes(last) == []
    typo = history.copy()
    typo.loc[typo.index[-1], "total_revenue"] *= 25
    [note] = patchy_model.studio_context(typo).base_month_notes(last)
    assert note.startswith(f"{last:%Y-%m}'s revenue ($")
    assert "x the month before ($" in note and "the median of the 12 months" in note
    ratio = float(note.split(") is ")[1].split("x")[0])
    assert 15 < ratio < 40
    # a month that is no longer the latest: the rule for set-aside months applies
    assert (
        patchy_model.studio_context(typo).base_month_notes(history["ds"].iloc[-2]) == []
    )
    # a studio closed for its last two months: 0 against its median alone
    closed = history.copy()
    closed.loc[closed.index[-2:], ["total_revenue", "total_members"]] = 0.0
    notes = patchy_model.studio_context(closed).base_month_notes(last)
    assert [n.split("'s ")[1].split(" (")[0] for n in notes] == [
        "revenue",
        "member count",
    ]
    assert all("0.00x the median of the 12 months" in n for n in notes)
    assert not any("the month before" in n for n in notes)


def test_a_base_month_that_looks_unfinished_is_named(patchy, patchy_model):
    """An export taken mid-month: half a month's revenue with the members
    held. The forecast starts from it as it stands, and the answer says so."""
    uid = patchy["unique_id"].unique()[2]
    history = patchy[patchy["unique_id"] == uid].reset_index(drop=True)
    last = history["ds"].max()
    half = history.copy()
    half.loc[half.index[-1], "total_revenue"] *= 0.5
    [note] = patchy_model.studio_context(half).base_month_notes(last)
    assert note.startswith(f"{last:%Y-%m} looks unfinished: its revenue ($")
    assert "member count held up" in note and "leave it out until it closes" in note
    # the same half month with a third of the members gone is a real fall
    fell = half.copy()
    fell.loc[fell.index[-1], "total_members"] *= 0.6
    notes = patchy_model.studio_context(fell).base_month_notes(last)
    assert not [n for n in notes if "unfinished" in n]
    # a tenth of a month leaves the studio's level: that note, not both
    tenth = history.copy()
    tenth.loc[tenth.index[-1], "total_revenue"] *= 0.1
    [note] = patchy_model.studio_context(tenth).base_month_notes(last)
    assert note.startswith(f"{last:%Y-%m}'s revenue ($")


def test_studios_that_cannot_be_used_are_left_out_with_every_reason(patchy):
    """A studio without revenue and one of five months: the rest train."""
    extra = []
    for name, months, revenue in (("no-revenue", 30, 0.0), ("newcomer", 5, 5e4)):
        one = patchy[patchy["unique_id"] == patchy["unique_id"].iloc[-1]].tail(months)
        extra.append(one.assign(unique_id=name, total_revenue=revenue))
    broken = patchy[patchy["unique_id"] == patchy["unique_id"].iloc[-1]].assign(
        unique_id="broken", new_members=-1.0
    )
    frame = pd.concat([patchy, *extra, broken], ignore_index=True)
    # and a month booked x25 in a usable studio: kept, but as a missing month
    typo_studio = patchy["unique_id"].unique()[2]
    typo = frame.index[frame["unique_id"] == typo_studio][-5]
    frame.loc[typo, "total_revenue"] *= 25
    model = ForwardModel(random_state=0, correction="lightgbm", n_estimators=30).fit(
        frame
    )
    assert model.anomalous_months_ == {typo_studio: [f"{frame.loc[typo, 'ds']:%Y-%m}"]}
    assert set(model.excluded_) == {"no-revenue", "newcomer", "broken"}
    assert model.excluded_["no-revenue"] == ["no revenue recorded"]
    assert (
        "has 5 months of data; training needs at least 18"
        in (model.excluded_["newcomer"][0])
    )
    assert "new_members is negative" in model.excluded_["broken"][0]
    assert model.training_summary_["studios"] == patchy["unique_id"].nunique()


@pytest.fixture(scope="module")
def identity_breaking() -> tuple[pd.DataFrame, ForwardModel]:
    """24 messy studios whose member counts do not follow new - churned."""
    frame = messy_frame(24, seed=5)
    return frame, ForwardModel(random_state=0).fit(frame)


def test_what_if_is_no_worse_than_plain_on_data_that_breaks_the_identity(
    identity_breaking,
):
    """More information (the levers the studio then ran) never makes it worse."""
    frame, model = identity_breaking
    plain = evaluate(model, frame, split="test", mode="plain", horizons=(1, 3, 6))
    what_if = evaluate(model, frame, split="test", mode="what_if", horizons=(1, 3, 6))
    plain = plain[plain["method"] == "model"].set_index("horizon")["mape"]
    what_if = what_if[what_if["method"] == "model"].set_index("horizon")["mape"]
    assert (what_if <= plain).all(), (what_if, plain)
    # the data does break the identity: the studios carry a member-flow residual
    flows = [abs(s.flow) for s in model.states_for_frame(frame).values()]
    assert np.mean(flows) > 0.005


def test_member_counts_off_the_identity_are_forecast_no_worse_than_persistence(
    identity_breaking,
):
    """The member correction leans on "members stay" where the flows mislead."""
    frame, model = identity_breaking
    table = evaluate(model, frame, split="test", mode="plain", horizons=(1, 3, 6))
    members = table.pivot_table(
        index="horizon", columns="method", values="members_mape"
    )
    assert (members["model"] <= 1.1 * members["naive"]).all(), members
    assert (members.loc[[3, 6], "model"] < members.loc[[3, 6], "naive"]).all(), members
    # and the stacking gave persistence weight one month ahead: the month-1
    # band's "members stay" anchor is in use
    ensemble = model.members_correction_
    month_1 = ensemble.bands.index((1, 1))
    anchors = [
        w
        for learner, w in zip(ensemble.learners, ensemble.weights[month_1], strict=True)
        if learner.kind == "anchor" and learner.low == 1
    ]
    assert len(anchors) == 1 and anchors[0] > 0.1, ensemble.weights


def test_stacking_gives_weight_only_to_learners_that_lower_the_error():
    """A useful learner is kept, noise gets none, and all-noise shrinks to zero."""
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.05, 500)
    useful = y + rng.normal(0, 0.01, 500)
    noise = rng.normal(0, 0.05, 500)
    weights = stacking_weights(np.column_stack([useful, noise]), y)
    assert weights[0] == pytest.approx(1.0, abs=0.05)
    assert weights[1] < 0.05
    assert stacking_weights(noise[:, None], y)[0] < 0.1


def test_a_studio_the_model_never_saw_gets_the_intervals_of_unseen_studios(
    patchy, patchy_model
):
    """Seen studios are calibrated on rolling origins, new ones on studio folds."""
    # given: a studio of the training data, and the same history under a new name
    uid = patchy["unique_id"].unique()[2]
    history = patchy[patchy["unique_id"] == uid]
    stranger = history.assign(unique_id="opened-after-training")

    # when
    seen = patchy_model.make_state(history, history["ds"].max())
    unseen = patchy_model.make_state(stranger, stranger["ds"].max())
    known = patchy_model.predict(seen, seen.levers, horizon=6)
    new = patchy_model.predict(unseen, unseen.levers, horizon=6)

    # then: same forecast, each with its own calibration
    assert seen.seen and not unseen.seen
    np.testing.assert_allclose(known.revenue, new.revenue)
    assert set(patchy_model.calibration_) == {
        "relative",
        "absolute",
        "relative_unseen",
        "absolute_unseen",
    }
    width = lambda r: r.revenue_upper - r.revenue_lower  # noqa: E731
    expected = (
        patchy_model.calibration_["relative_unseen"]
        .starting(unseen.base_month.month)  # the target months' own widths
        .interval(6, 0.8)
    )
    np.testing.assert_allclose(
        new.revenue_upper / new.revenue, np.exp(expected[1])[None, :]
    )
    assert not np.allclose(width(known), width(new))


@pytest.fixture(scope="module")
def noisy_flows() -> tuple[pd.DataFrame, ForwardModel]:
    """24 studios of the walk process: gross sign-ups and filed cancellations,
    so the flows miss the member count by about 5% of members every month."""
    frame = export_frame(walk_export(24, seed=3))
    return frame, ForwardModel(random_state=0).fit(frame)


def test_what_if_leans_on_the_plain_forecast_where_the_flows_are_noisy(noisy_flows):
    """The plan's flows roll the members forward with their bookkeeping noise;
    the what-if forecast mixes in the plain one where that is worse, so it is
    no worse than the plain forecast at any horizon."""
    frame, model = noisy_flows
    plain = evaluate(model, frame, split="test", mode="plain", horizons=(1, 3, 6))
    what_if = evaluate(model, frame, split="test", mode="what_if", horizons=(1, 3, 6))
    plain = plain[plain["method"] == "model"].set_index("horizon")["mape"]
    what_if = what_if[what_if["method"] == "model"].set_index("horizon")["mape"]
    assert (what_if <= plain * 1.02).all(), (what_if, plain)
    # the plain forecast carries weight one month ahead, and the plan's
    # structural core still carries some further out, where it helps
    weight = model.what_if_weight_
    assert weight.shape == (model.max_horizon,)
    assert weight[0] < 0.8 and weight[-1] > 0.2, weight


def test_the_what_if_mix_survives_a_save_and_load(noisy_flows, tmp_path):
    frame, model = noisy_flows
    model.save(tmp_path / "model")
    loaded = ForwardModel.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.what_if_weight_, model.what_if_weight_)
    uid = frame["unique_id"].iloc[0]
    history = frame[frame["unique_id"] == uid]
    state = loaded.make_state(history, history["ds"].iloc[-4])
    plan = np.tile(state.levers, (3, 1))[None] * 1.02
    a = model.predict(
        model.make_state(history, history["ds"].iloc[-4]), plan, 3, plan="absolute"
    )
    b = loaded.predict(state, plan, 3, plan="absolute")
    np.testing.assert_allclose(a.revenue, b.revenue, rtol=1e-12)


def test_the_same_chain_under_other_ids_trains_the_same_model(patchy, patchy_model):
    """A database's studio ids are random UUIDs: importing the same export twice
    must not train two models. The fit orders studios by their data."""
    rng = np.random.default_rng(4)
    uids = patchy["unique_id"].unique()
    renamed = {uid: f"{rng.integers(16**8):08x}-{i}" for i, uid in enumerate(uids)}
    assert sorted(renamed, key=renamed.get) != sorted(uids)  # another order
    other = patchy.assign(unique_id=patchy["unique_id"].map(renamed))

    model = ForwardModel(random_state=0, n_estimators=60).fit(other)

    assert model.training_studios_ == sorted(
        renamed[uid] for uid in patchy_model.training_studios_
    )
    for uid in uids[:3]:
        history = patchy[patchy["unique_id"] == uid]
        base = history["ds"].iloc[-7]
        a_state = patchy_model.make_state(history, base)
        b_state = model.make_state(history.assign(unique_id=renamed[uid]), base)
        a = patchy_model.predict(a_state, a_state.levers, 6, plan="relative")
        b = model.predict(b_state, b_state.levers, 6, plan="relative")
        np.testing.assert_array_equal(a.revenue, b.revenue)
        np.testing.assert_array_equal(a.revenue_lower, b.revenue_lower)
        plan = np.tile(a_state.levers, (6, 1))[None]
        np.testing.assert_array_equal(
            patchy_model.predict(a_state, plan, 6, plan="absolute").revenue,
            model.predict(b_state, plan, 6, plan="absolute").revenue,
        )


def test_a_typo_in_the_history_does_not_move_the_forecast(patchy, patchy_model):
    """A month booked x25 (an extra digit) four months back: the forecast stays
    within a few percent of the one from the clean history."""
    uid = patchy["unique_id"].unique()[2]
    history = patchy[patchy["unique_id"] == uid].reset_index(drop=True)
    month = len(history) - 5
    assert not history.loc[month - 1 : month + 1, "is_outlier"].any()
    typo = history.copy()
    typo.loc[month, "total_revenue"] *= 25
    forecasts = []
    for h in (history, typo):
        state = patchy_model.make_state(h, h["ds"].max())
        forecasts.append(patchy_model.predict(state, state.levers, horizon=6).revenue)
    np.testing.assert_allclose(forecasts[1], forecasts[0], rtol=0.03)
    # the month itself is no base month, and the answer says why
    with pytest.raises(InsufficientHistoryError, match="treated as missing"):
        patchy_model.make_state(typo, typo.loc[month, "ds"])


def test_a_studio_closed_at_its_last_month_does_not_fail_the_lever_check(
    patchy, patchy_model
):
    """No members and no revenue at the end: no lever has anything to move, and
    the activation check says nothing of it (it failed such chains before)."""
    from forecasting.ml.checks import lever_monotonicity

    frame = patchy.copy()
    last = frame.index[frame["unique_id"] == frame["unique_id"].unique()[2]][-1]
    frame.loc[
        last,
        ["total_members", "new_members", "total_revenue", "total_class_attendance"],
    ] = 0
    passed, detail = lever_monotonicity(patchy_model, frame)
    assert passed, detail
    assert "x 8 studios" in detail


@pytest.fixture(scope="module")
def short_seasons() -> tuple[pd.DataFrame, ForwardModel]:
    """20 drop-in studios with strong seasons of their own, each exported for
    its last 20-30 months only: most of every studio's pairs lie in its first
    year, where the target's month a year before is not in its history."""
    frame = export_frame(recent_months(dropin_export(20, seed=0), 20, 30, seed=0))
    return frame, ForwardModel(random_state=0).fit(frame)


def test_a_short_export_with_strong_seasons_leans_on_last_years_month(
    short_seasons,
):
    """The seasonal-naive anchor is weighed on the pairs where it exists. Weighed
    on every pair (0 where there was no year before the target) its weight came
    out near none, and the plain forecast lost to last year's month by a third
    from month 3 on (12.95% against 9.27% at month 3 on this chain)."""
    frame, model = short_seasons
    table = evaluate(model, frame, split="test", mode="plain", horizons=(1, 3, 6))
    mape = table.pivot_table(index="horizon", columns="method", values="mape")
    assert (
        mape.loc[[3, 6], "model"] <= 1.05 * mape.loc[[3, 6], "seasonal_naive"]
    ).all(), mape
    assert (mape["model"] < mape["naive"]).all(), mape
    # and more information still never makes it worse
    what_if = evaluate(model, frame, split="test", mode="what_if", horizons=(1, 3, 6))
    what_if = what_if[what_if["method"] == "model"].set_index("horizon")["mape"]
    assert (what_if <= 1.02 * mape["model"]).all(), (what_if, mape["model"])


def test_a_studio_whose_revenue_is_noisier_gets_wider_intervals(patchy):
    """Each calibrated studio's interval width is its own: one whose revenue
    jumps by 15% from month to month around its level is forecast with a wider
    interval than the steady studios of the same chain, and serves it in every
    path (one studio's forecast, the batch status quo)."""
    # given: the patchy chain, one studio's revenue made noisy throughout
    rng = np.random.default_rng(8)
    uids = patchy["unique_id"].unique()
    noisy = patchy["unique_id"] == uids[4]
    frame = patchy.copy()
    frame.loc[noisy, "total_revenue"] *= np.exp(rng.normal(0.0, 0.15, noisy.sum()))

    # when
    model = ForwardModel(random_state=0, n_estimators=60).fit(frame)
    states = model.states_for_frame(frame, base_months="latest")
    relative = {
        uid: np.log(r.revenue_upper / r.revenue_lower)[0]
        for uid, state in states.items()
        for r in [model.predict(state, state.levers, horizon=6)]
    }

    # then: the noisy studio's factor and width are above every steady one's
    factors = model.calibration_["relative"].studios
    assert set(factors) == set(model.training_studios_)
    assert factors[uids[4]] > 1.2
    assert factors[uids[4]] > max(f for uid, f in factors.items() if uid != uids[4])
    width = {uid[0]: w for uid, w in relative.items()}
    assert (width[uids[4]] > np.array([width[u] for u in uids[:4]])).all()
    # and the batch status quo gives each studio the interval predict gives it
    batch = model.forecast_status_quo(list(states.values()), horizon=6)
    for row, state in enumerate(states.values()):
        one = model.predict(state, state.levers, horizon=6)
        np.testing.assert_allclose(batch.revenue_lower[row], one.revenue_lower[0])
        np.testing.assert_allclose(batch.confidence[row], one.confidence[0])
    # studios no one calibrated keep the chain's width, and so do what-if
    # forecasts
    assert model.calibration_["relative_unseen"].studios is None
    assert model.calibration_["absolute"].studios is None
