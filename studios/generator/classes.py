"""Class types: the 4-8 classes on each studio's timetable."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.generator.profiles import STUDIO_TYPES, TYPE_PROFILES, StudioParams

__all__ = ["build_class_types"]

_MIN_CLASSES, _MAX_CLASSES = 4, 8


def build_class_types(
    rng: np.random.Generator, p: StudioParams, mean_attendance: np.ndarray
) -> pd.DataFrame:
    """Draw each studio's class types from its type's catalogue.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    p : StudioParams
        Static studio parameters.
    mean_attendance : ndarray
        Each studio's mean class attendance rate over its history, shape ``(n,)``;
        the class types scatter around it (popular and niche classes).

    Returns
    -------
    pandas.DataFrame
        Columns studio_name, class_name, class_price, max_capacity,
        avg_attendance_rate; rows grouped by studio in studio order.
    """
    n_classes = rng.integers(_MIN_CLASSES, _MAX_CLASSES + 1, p.n)
    parts = []
    for t, studio_type in enumerate(STUDIO_TYPES):
        rows = np.flatnonzero(p.type_index == t)
        if len(rows) == 0:
            continue
        profile = TYPE_PROFILES[studio_type]
        catalogue = len(profile.classes)
        names = np.array([c[0] for c in profile.classes], dtype=object)
        prices = np.array([c[1] for c in profile.classes])
        limits = np.array([c[2] for c in profile.classes])
        # A random order of the catalogue per studio; the first n_classes are kept.
        order = np.argsort(rng.random((len(rows), catalogue)), axis=1)
        keep = np.arange(catalogue)[None, :] < n_classes[rows, None]
        studio_rows = np.broadcast_to(rows[:, None], order.shape)[keep]
        picked = order[keep]
        parts.append(
            pd.DataFrame(
                {
                    "studio": studio_rows,
                    "class_name": names[picked],
                    "catalogue_price": prices[picked],
                    "limit": limits[picked],
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True).sort_values("studio", kind="stable")
    studio = frame["studio"].to_numpy()

    # Premium studios charge more per class too, less than proportionally.
    mid_price = np.array([np.mean(TYPE_PROFILES[t].list_price) for t in STUDIO_TYPES])
    premium = (p.list_price / mid_price[p.type_index]) ** 0.5
    price = frame["catalogue_price"].to_numpy() * premium[studio]
    price *= rng.uniform(0.92, 1.08, len(frame))

    # Each class fits the room or equipment it needs, never more than the studio's
    # largest room; the class needing most space runs in that largest room.
    capacity = np.minimum(frame["limit"].to_numpy(), p.max_capacity[studio])
    largest = frame.groupby("studio")["limit"].idxmax().to_numpy()
    capacity[frame.index.get_indexer(largest)] = p.max_capacity[
        frame.loc[largest, "studio"].to_numpy()
    ]

    attendance = np.clip(
        mean_attendance[studio] * rng.uniform(0.85, 1.12, len(frame)), 0.3, 0.98
    )
    return pd.DataFrame(
        {
            "studio_name": p.names[studio],
            "class_name": frame["class_name"].to_numpy(),
            "class_price": np.round(price),
            "max_capacity": capacity.astype(np.int64),
            "avg_attendance_rate": np.round(attendance, 3),
        }
    )
