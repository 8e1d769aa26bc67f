"""Studios, class types and member cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studios.generator import GeneratedData, generate
from studios.generator.profiles import CITIES, TYPE_PROFILES

N_STUDIOS, MONTHS = 200, 60
COHORT_MONTHS = (1, 3, 6, 12)


@pytest.fixture(scope="module")
def data() -> GeneratedData:
    return generate(n_studios=N_STUDIOS, months=MONTHS, seed=5)


# Studios --------------------------------------------------------------------------


def test_names_are_unique_for_thousands_of_studios() -> None:
    """5,000 studios still get 5,000 distinct names."""
    studios = generate(n_studios=5000, months=1, seed=0).studios
    assert studios["name"].is_unique


def test_studios_are_heterogeneous(data: GeneratedData) -> None:
    """All five types, 20+ cities, a spread of sizes and capacities."""
    s = data.studios
    assert set(s["studio_type"]) == set(TYPE_PROFILES)
    assert s["city"].nunique() >= 20
    assert len(CITIES) >= 20
    assert s["max_capacity"].nunique() >= 10
    assert s["square_footage"].max() > 2 * s["square_footage"].min()


def test_names_fit_the_studio_type(data: GeneratedData) -> None:
    """A yoga studio is called "... Yoga ...", a CrossFit box "... CrossFit ..." and
    so on: the suffix comes from the type's own list."""
    for row in data.studios.itertuples():
        suffixes = TYPE_PROFILES[row.studio_type].name_suffix
        stem = row.name.rsplit(" — ", 1)[0]
        assert any(stem.endswith(f" {suffix}") for suffix in suffixes), row.name


def test_types_have_their_own_price_points(data: GeneratedData) -> None:
    """Pilates and CrossFit charge more than yoga and wellness, on average."""
    ticket = (
        data.metrics.merge(data.studios, left_on="studio_name", right_on="name")
        .groupby("studio_type")["avg_ticket_price"]
        .mean()
    )
    assert ticket["pilates"] > ticket["yoga"]
    assert ticket["crossfit"] > ticket["wellness"]


# Class types ------------------------------------------------------------------------


def test_four_to_eight_class_types_per_studio(data: GeneratedData) -> None:
    counts = data.class_types.groupby("studio_name").size()
    assert set(counts.index) == set(data.studios["name"])
    assert counts.between(4, 8).all()
    assert counts.nunique() >= 4
    assert not data.class_types.duplicated(["studio_name", "class_name"]).any()


def test_class_names_fit_the_studio_type(data: GeneratedData) -> None:
    types = data.studios.set_index("name")["studio_type"]
    for row in data.class_types.itertuples():
        catalogue = {c[0] for c in TYPE_PROFILES[types[row.studio_name]].classes}
        assert row.class_name in catalogue


def test_class_capacity_fits_the_studio(data: GeneratedData) -> None:
    """10-30 people, never more than the largest room, which one class uses."""
    c = data.class_types
    studio_capacity = c["studio_name"].map(
        data.studios.set_index("name")["max_capacity"]
    )
    assert c["max_capacity"].between(10, 30).all()
    assert (c["max_capacity"] <= studio_capacity).all()
    largest = c.groupby("studio_name")["max_capacity"].max()
    studios = data.studios.set_index("name")["max_capacity"]
    assert (largest.sort_index() == studios.sort_index()).all()


def test_class_price_and_attendance(data: GeneratedData) -> None:
    c = data.class_types
    assert c["class_price"].dtype == np.float64
    assert np.allclose(c["class_price"], c["class_price"].round(2))
    assert c["class_price"].between(10, 100).all()
    assert c["avg_attendance_rate"].between(0.3, 0.98).all()
    # Around the studio's own mean attendance rate.
    studio_rate = data.metrics.groupby("studio_name")["class_attendance_rate"].mean()
    ratio = c["avg_attendance_rate"] / c["studio_name"].map(studio_rate)
    assert ratio.between(0.8, 1.2).all()


# Cohorts ----------------------------------------------------------------------------


def test_one_cohort_per_studio_month_sized_by_new_members(
    data: GeneratedData,
) -> None:
    m, c = data.metrics, data.cohorts
    assert len(c) == len(m)
    assert np.array_equal(c["studio_name"].to_numpy(), m["studio_name"].to_numpy())
    assert np.array_equal(c["join_month"].to_numpy(), m["month_year"].to_numpy())
    assert np.array_equal(c["cohort_size"].to_numpy(), m["new_members"].to_numpy())
    assert c["cohort_size"].dtype == np.int64


@pytest.mark.parametrize("k", COHORT_MONTHS)
def test_retention_is_nan_until_observable(data: GeneratedData, k: int) -> None:
    """Month k of a cohort exists only if join month + k is inside the history."""
    c = data.cohorts
    last = c["join_month"].max()
    observable = c["join_month"] + pd.DateOffset(months=k) <= last
    column = c[f"retention_month_{k}"]
    assert column[observable & (c["cohort_size"] > 0)].notna().all()
    assert column[~observable].isna().all()


def test_cohort_retention_decays_and_stays_a_fraction(data: GeneratedData) -> None:
    c = data.cohorts
    columns = [f"retention_month_{k}" for k in COHORT_MONTHS]
    values = c[columns].to_numpy()
    assert ((values >= 0) & (values <= 1) | np.isnan(values)).all()
    steps = np.diff(values, axis=1)
    assert (steps[~np.isnan(steps)] <= 0).all()


@pytest.mark.parametrize("k", COHORT_MONTHS)
def test_cohort_retention_follows_the_studio_retention(
    data: GeneratedData, k: int
) -> None:
    """On average a cohort keeps the product of the studio's retention over its
    first k months (about r ** k)."""
    retention = data.metrics["retention_rate"].to_numpy().reshape(N_STUDIOS, MONTHS)
    survival = np.full((N_STUDIOS, MONTHS), np.nan)
    for t in range(MONTHS - k):
        survival[:, t] = retention[:, t + 1 : t + k + 1].prod(axis=1)
    observed = data.cohorts[f"retention_month_{k}"].to_numpy()
    size = data.cohorts["cohort_size"].to_numpy()
    ok = ~np.isnan(observed)
    weighted = (observed[ok] * size[ok]).sum() / (survival.ravel()[ok] * size[ok]).sum()
    assert 0.97 <= weighted <= 1.03
    # Per studio, retention at month k tracks the studio's retention level.
    per_studio = (
        pd.DataFrame(
            {"observed": observed, "expected": survival.ravel()},
            index=data.cohorts["studio_name"],
        )
        .groupby(level=0)
        .mean()
    )
    assert per_studio["observed"].corr(per_studio["expected"]) > 0.6


def test_ltv_is_ticket_times_expected_lifetime(data: GeneratedData) -> None:
    m, c = data.metrics, data.cohorts
    ltv = (m["avg_ticket_price"] * m["average_member_lifetime_months"]).round(2)
    assert np.allclose(c["avg_ltv"].to_numpy(), ltv.to_numpy(), rtol=0, atol=0.011)
    assert (c["avg_ltv"] > 0).all()
