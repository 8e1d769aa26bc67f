"""Model instances from SQL written once per process: the lookups every request makes.

Every API request authenticates its token, and every served prediction loads
its studio and the active model version. Through the ORM each of those one-row
lookups costs several times the query itself, because the queryset is built and
compiled to SQL again on every call: on the 2-vCPU benchmark machine 0.6 to
1.0 ms per lookup against 0.06 to 0.08 ms to run its SQL on SQLite (and about
0.2 ms per round trip on PostgreSQL). A cached prediction is nothing but these
lookups and its log's INSERT (:func:`insert`), so they decide its latency.

The lookups that use this module write their SQL once per database from the
models' metadata (tables, columns, quoting by the backend), bind their values
the way the fields prepare them for the ORM, and turn rows into instances the
way the ORM does (:meth:`Model.from_db`, after the backend's and the fields'
converters), so a loaded instance equals one loaded through the ORM. No
queryset-level behaviour is involved: no managers, no default ordering.
Everything else keeps using the ORM.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

__all__ = [
    "column",
    "columns",
    "db_value",
    "fetch_one",
    "insert",
    "instance",
    "table",
]

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


def table(model: type[Model], connection: BaseDatabaseWrapper) -> str:
    """``model``'s table, quoted for ``connection``."""
    return connection.ops.quote_name(model._meta.db_table)


def column(
    model: type[Model], field: str, connection: BaseDatabaseWrapper, alias: str
) -> str:
    """The column of ``model.field`` (a field name, or ``"pk"``), qualified by
    ``alias``."""
    qn = connection.ops.quote_name
    return f"{qn(alias)}.{qn(_field(model, field).column)}"


def columns(model: type[Model], connection: BaseDatabaseWrapper, alias: str) -> str:
    """Every concrete column of ``model``, in field order, qualified by ``alias``:
    the select list :func:`instance` reads."""
    qn = connection.ops.quote_name
    return ", ".join(
        f"{qn(alias)}.{qn(field.column)}" for field in model._meta.concrete_fields
    )


def db_value(
    model: type[Model], field: str, value: Any, connection: BaseDatabaseWrapper
) -> Any:
    """``value`` bound for ``model.field`` as the ORM binds it (a UUID becomes hex
    text on SQLite, for example)."""
    target = _field(model, field)
    return target.get_db_prep_value(target.get_prep_value(value), connection)


def instance(
    model: type[M], values: Sequence[Any], connection: BaseDatabaseWrapper
) -> M:
    """The ``model`` instance for ``values``, read from :func:`columns`' select
    list: the ORM's converters applied (dates and times, UUIDs, JSON, booleans on
    SQLite), then :meth:`Model.from_db`."""
    converted = list(values)
    for position, converters, expression in _converters(model, connection.alias):
        value = converted[position]
        for convert in converters:
            value = convert(value, expression, connection)
        converted[position] = value
    return model.from_db(connection.alias, _attnames(model), converted)


def insert(instance: Model, connection: BaseDatabaseWrapper) -> None:
    """INSERT ``instance`` as a new row: what ``save(force_insert=True)`` runs for
    a model without parents whose primary key has a Python default, with its
    SQL written once per model and database.

    Each field prepares its own value (``pre_save``, which fills ``auto_now``
    dates, then ``get_db_prep_save``). Unlike ``save()``, and like
    ``bulk_create()``, it sends no ``pre_save``/``post_save`` signals and skips
    any ``save()`` override: use it only for models that have neither.
    """
    model = type(instance)
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in model._meta.concrete_fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, connection.alias), values)
    instance._state.adding = False
    instance._state.db = connection.alias


def fetch_one(
    sql: str, params: Sequence[Any], connection: BaseDatabaseWrapper
) -> tuple | None:
    """The first row ``sql`` selects, or ``None``."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@functools.cache
def _insert_sql(model: type[Model], using: str) -> str:
    connection = connections[using]
    meta = model._meta
    fields = meta.concrete_fields
    if (
        meta.parents
        or not meta.pk.has_default()
        or any(field.db_returning for field in fields)
    ):
        raise TypeError(
            f"{meta.label}: rows.insert needs a single-table model whose primary "
            "key has a Python default and no value set by the database"
        )
    qn = connection.ops.quote_name
    return (
        f"INSERT INTO {qn(meta.db_table)} "
        f"({', '.join(qn(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )


def _field(model: type[Model], name: str) -> Field:
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


@functools.cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


@functools.cache
def _converters(
    model: type[Model], using: str
) -> tuple[tuple[int, tuple[Converter, ...], Any], ...]:
    """For each column of :func:`columns` that needs one, the converters the
    ORM's compiler applies to it, found once per model and database.

    The backend's converters are bound to the connection of the thread that
    first asks; they read only the database's settings, which every connection
    to it shares, and each call is given the caller's connection.
    """
    connection = connections[using]
    found = []
    for position, field in enumerate(model._meta.concrete_fields):
        expression = field.get_col(model._meta.db_table)
        converters = (
            *connection.ops.get_db_converters(expression),
            *expression.get_db_converters(connection),
        )
        if converters:
            found.append((position, converters, expression))
    return tuple(found)
