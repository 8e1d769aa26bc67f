"""CSV and Parquet encoders that turn a stream of rows into a stream of bytes.

Neither holds the table: CSV is written row by row into a small buffer that is
emptied every :data:`CSV_FLUSH_ROWS` rows; Parquet converts rows to Arrow columns
:data:`BATCH_ROWS` at a time, writes each ``row_group_rows`` rows as one row group
and hands the bytes on, so what grows with the table is only the footer (a few
bytes per row group and column). No Django here.

CSV conventions, chosen for Tableau, Power BI and Excel alike: UTF-8, comma
separated, a header row, ``\\r\\n`` line ends (RFC 4180), quotes only where needed,
empty for missing values, ISO 8601 dates (``2026-04-01``) and UTC timestamps
(``2026-04-01T09:30:00Z``), ``true``/``false``, money with two decimals and a dot.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from exports.datasets import Column, Dataset

__all__ = ["FORMATS", "arrow_schema", "csv_chunks", "parquet_chunks"]

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
CSV_FLUSH_ROWS = 500
DEFAULT_ROW_GROUP_ROWS = 50_000
#: Rows converted to Arrow at a time within a row group.
BATCH_ROWS = 2_000
#: A row group is also closed once its Arrow batches reach this many bytes, so
#: wide rows (prediction logs carry their JSON) do not hold more than narrow ones.
ROW_GROUP_BYTES = 32 * 2**20

_ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    # Money is Decimal(12, 2) in the database; Parquet keeps it exact.
    "money": pa.decimal128(12, 2),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "json": pa.string(),
}


def arrow_schema(dataset: Dataset) -> pa.Schema:
    """The Parquet schema: one field per column, its description as metadata."""
    return pa.schema(
        [
            pa.field(
                column.name,
                _ARROW_TYPES[column.type],
                nullable=True,
                metadata={"description": column.description},
            )
            for column in dataset.columns
        ],
        metadata={"dataset": dataset.name, "description": dataset.description},
    )


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _csv_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == "json":
        return _json(value) or ""
    if column.type == "bool":
        return "true" if value else "false"
    if column.type == "timestamp":
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if column.type == "date":
        return value.isoformat()
    if column.type == "money":
        return f"{Decimal(value):.2f}"
    if column.type == "float":
        return repr(float(value))
    return str(value)


def csv_chunks(dataset: Dataset, rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The header, then the rows, as UTF-8 bytes in chunks of about 500 rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(dataset.column_names)
    columns = dataset.columns
    pending = 0
    for row in rows:
        writer.writerow([_csv_value(c, row.get(c.name)) for c in columns])
        pending += 1
        if pending >= CSV_FLUSH_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


class _Drain(io.RawIOBase):
    """A write-only file whose written bytes are taken out after each row group."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _arrow_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type == "json":
        return _json(value)
    if column.type == "money":
        return Decimal(value).quantize(Decimal("0.01"))
    if column.type == "timestamp" and isinstance(value, datetime):
        return value.astimezone(UTC)
    if column.type == "date" and isinstance(value, datetime):
        return value.date()
    if column.type == "date" and isinstance(value, date):
        return value
    return value


def _batch(
    dataset: Dataset, schema: pa.Schema, rows: list[dict[str, Any]]
) -> pa.RecordBatch:
    arrays = [
        pa.array(
            [_arrow_value(column, row.get(column.name)) for row in rows],
            type=field.type,
        )
        for column, field in zip(dataset.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def parquet_chunks(
    dataset: Dataset,
    rows: Iterable[dict[str, Any]],
    *,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
) -> Iterator[bytes]:
    """A Parquet file (zstd-compressed) as bytes, one row group at a time.

    Rows are turned into Arrow record batches every :data:`BATCH_ROWS` rows (Python
    row dicts take about a hundred times the memory of the same values in Arrow's
    columns), and the batches of ``row_group_rows`` rows are written as one row
    group (or fewer, once they hold :data:`ROW_GROUP_BYTES`) and handed on as
    bytes.
    """
    schema = arrow_schema(dataset)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    batch_rows = min(BATCH_ROWS, row_group_rows)
    try:
        pending: list[dict[str, Any]] = []
        batches: list[pa.RecordBatch] = []
        buffered = buffered_bytes = 0
        for row in rows:
            pending.append(row)
            if len(pending) < batch_rows:
                continue
            batch = _batch(dataset, schema, pending)
            batches.append(batch)
            buffered += len(pending)
            buffered_bytes += batch.nbytes
            pending = []
            if buffered >= row_group_rows or buffered_bytes >= ROW_GROUP_BYTES:
                table = pa.Table.from_batches(batches, schema=schema)
                writer.write_table(table, row_group_size=row_group_rows)
                batches, buffered, buffered_bytes = [], 0, 0
                yield sink.take()
        if pending:
            batches.append(_batch(dataset, schema, pending))
        if batches:
            table = pa.Table.from_batches(batches, schema=schema)
            writer.write_table(table, row_group_size=row_group_rows)
    finally:
        writer.close()
    yield sink.take()
