"""Exports for BI tools: a registered dataset, as CSV or Parquet, streamed.

:func:`export_open` validates everything (dataset, format, studios) before a byte
is produced and returns an :class:`Export` whose ``chunks`` stream the file; the
management command writes them to a file, the admin and the download view into an
HTTP response. What a user exports is what the API lets them see
(:func:`studios.selectors.restrict_to_user`); ``user=None`` is the operator's
command line, which sees every studio.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from django.core.exceptions import ValidationError
from django.utils import timezone

from exports.datasets import DATASETS, Dataset, dataset_get
from exports.writers import (
    DEFAULT_ROW_GROUP_ROWS,
    FORMATS,
    csv_chunks,
    parquet_chunks,
)
from studios.models import Studio
from studios.selectors import User, restrict_to_user
from studiosim.errors import InvalidInput, NotFound

__all__ = ["Export", "export_open"]


@dataclass
class Export:
    """An export ready to stream; ``rows`` counts the rows written so far."""

    dataset: Dataset
    format: str
    filename: str
    content_type: str
    _chunks: Iterable[bytes] = field(repr=False, default=())
    rows: int = 0

    @property
    def chunks(self) -> Iterator[bytes]:
        return iter(self._chunks)


def _studio_ids(studios: Sequence[str | UUID], *, user: User | None) -> list[UUID]:
    """Resolve studio ids or exact names; one the user may not see is NotFound."""
    visible = Studio.objects.all()
    if user is not None:
        visible = restrict_to_user(visible, user=user, studio_path="")
    ids: list[UUID] = []
    for value in studios:
        text = str(value).strip()
        try:
            pk = UUID(text)
            found = visible.filter(pk=pk).values_list("pk", flat=True).first()
        except ValueError:
            found = visible.filter(name=text).values_list("pk", flat=True).first()
        except ValidationError:
            found = None
        if found is None:
            raise NotFound(f"No studio {text}.", field="studio")
        ids.append(found)
    return ids


def export_open(
    *,
    dataset: str,
    format: str,
    user: User | None,
    studios: Sequence[str | UUID] | None = None,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    now: dt.datetime | None = None,
) -> Export:
    """Validate an export request and return the export, ready to stream.

    ``studios`` (ids or exact names) narrows the export to those studios; each
    must be one the user may see, else NotFound (answered like a missing one).
    Raises InvalidInput for an unknown dataset or format or a row group size
    below 1, before any row is read.
    """
    chosen = dataset_get(dataset)
    if chosen is None:
        raise InvalidInput(
            f"unknown dataset {dataset!r}; datasets are {', '.join(DATASETS)}",
            field="dataset",
        )
    if format not in FORMATS:
        raise InvalidInput(
            f"unknown format {format!r}; formats are {', '.join(FORMATS)}",
            field="format",
        )
    if row_group_rows < 1:
        raise InvalidInput("row groups need at least 1 row", field="row_group_rows")
    studio_ids = _studio_ids(studios, user=user) if studios else None
    stamp = (now or timezone.now()).strftime("%Y%m%d-%H%M%S")
    export = Export(
        dataset=chosen,
        format=format,
        filename=f"studiosim-{chosen.name}-{stamp}.{format}",
        content_type=FORMATS[format],
    )

    def counted() -> Iterator[dict]:
        for row in chosen.rows(user=user, studio_ids=studio_ids):
            export.rows += 1
            yield row

    export._chunks = (
        csv_chunks(chosen, counted())
        if format == "csv"
        else parquet_chunks(chosen, counted(), row_group_rows=row_group_rows)
    )
    return export
