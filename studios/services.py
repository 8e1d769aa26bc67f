"""Writes to studios and their monthly data.

Every write to a studio's monthly data goes through here, so the studio's
``data_version`` (part of every prediction cache key) is bumped and the
train/validation/test split labels stay consistent with the history.
"""

from collections.abc import Iterable
from uuid import UUID

from django.db import transaction
from django.db.models import F, QuerySet

from studios.models import MonthlyMetric, Split, Studio

SPLIT_MONTHS = 6


def split_labels(n_months: int) -> list[str]:
    """Split labels for a history of ``n_months`` ordered oldest first (SPEC §2.8)."""
    labels = []
    for position in range(n_months):
        from_end = n_months - position
        if from_end <= SPLIT_MONTHS:
            labels.append(Split.TEST)
        elif from_end <= 2 * SPLIT_MONTHS:
            labels.append(Split.VALIDATION)
        else:
            labels.append(Split.TRAIN)
    return labels


def metric_splits_refresh(*, studio_ids: Iterable[UUID]) -> None:
    """Relabel each studio's months: last 6 test, the 6 before validation, rest train."""
    for studio_id in studio_ids:
        months = list(
            MonthlyMetric.objects.filter(studio_id=studio_id)
            .order_by("-month_year")
            .values_list("month_year", flat=True)[: 2 * SPLIT_MONTHS]
        )
        if not months:
            continue
        rows = MonthlyMetric.objects.filter(studio_id=studio_id)
        rows.update(split=Split.TRAIN)
        rows.filter(month_year__gte=months[-1]).update(split=Split.VALIDATION)
        rows.filter(month_year__gte=months[min(SPLIT_MONTHS, len(months)) - 1]).update(
            split=Split.TEST
        )


def studio_data_changed(*, studio_ids: Iterable[UUID]) -> None:
    """Record that the studios' monthly data changed: new data version, fresh splits."""
    studio_ids = list(set(studio_ids))
    Studio.objects.filter(pk__in=studio_ids).update(data_version=F("data_version") + 1)
    metric_splits_refresh(studio_ids=studio_ids)


@transaction.atomic
def metric_save(*, metric: MonthlyMetric) -> MonthlyMetric:
    metric.full_clean()
    metric.save()
    studio_data_changed(studio_ids=[metric.studio_id])
    return metric


@transaction.atomic
def metric_delete(*, metric: MonthlyMetric) -> None:
    studio_id = metric.studio_id
    metric.delete()
    studio_data_changed(studio_ids=[studio_id])


@transaction.atomic
def metric_delete_many(*, queryset: QuerySet[MonthlyMetric]) -> int:
    studio_ids = set(queryset.values_list("studio_id", flat=True))
    deleted, _ = queryset.delete()
    studio_data_changed(studio_ids=studio_ids)
    return deleted
