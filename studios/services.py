"""Writes to studios and their monthly data.

Every write to a studio's monthly data goes through here, so the studio's
``data_version`` (part of every prediction cache key) is bumped and the
train/validation/test split labels stay consistent with the history.
"""

import csv
import functools
import hashlib
import io
import itertools
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from studios import importing
from studios.models import (
    ApiToken,
    ClassType,
    MemberCohort,
    MonthlyMetric,
    Split,
    Studio,
)
from studios.signals import metrics_imported
from studiosim import rows
from studiosim.currencies import dollar_rate

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


def _months_before(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def metric_splits_refresh(*, studio_ids: Iterable[UUID]) -> None:
    """Relabel each studio's months on the calendar: the last 6 months of its
    history test, the 6 before validation, the rest train (a missing month counts
    as a month, as in the model's frame)."""
    for studio_id in studio_ids:
        rows = MonthlyMetric.objects.filter(studio_id=studio_id)
        last = rows.order_by("-month_year").values_list("month_year", flat=True).first()
        if last is None:
            continue
        test_from = _months_before(last, SPLIT_MONTHS - 1)
        validation_from = _months_before(last, 2 * SPLIT_MONTHS - 1)
        rows.update(split=Split.TRAIN)
        rows.filter(month_year__gte=validation_from).update(split=Split.VALIDATION)
        rows.filter(month_year__gte=test_from).update(split=Split.TEST)


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


# --- importing monthly metrics (SPEC §3) --------------------------------------

#: Problems of one severity listed before the rest are only counted by column
#: (``import_metrics`` and the admin's import page): an export whose every row has
#: the same slip (cancellations written as negative numbers) would otherwise list
#: thousands of lines.
SHOWN_PROBLEMS = 50

METRIC_WRITE_FIELDS = (
    *importing.METRIC_FIELDS,
    "is_outlier",
    "outlier_reason",
    "expected_values",
)


@dataclass
class ImportReport:
    """What an import did (or, with errors or a dry run, would have done)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    studios_created: list[str] = field(default_factory=list)
    problems: list[importing.Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def errors(self) -> list[importing.Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[importing.Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def shown(self, limit: int | None) -> tuple[list[importing.Problem], int]:
        """The problems to list, the first ``limit`` of each severity (errors
        first; every one with None), and how many are left only counted."""
        shown: list[importing.Problem] = []
        for problems in (self.errors, self.warnings):
            shown += problems[:limit]
        return shown, len(self.problems) - len(shown)

    def by_column(self) -> list[dict]:
        """How many errors and warnings each column has (``None``: the file as a
        whole), most problems first; the first line of each."""
        counts: dict[str | None, dict] = {}
        for problem in self.problems:
            row = counts.setdefault(
                problem.column,
                {
                    "column": problem.column,
                    "errors": 0,
                    "warnings": 0,
                    "first_line": None,
                },
            )
            row["errors" if problem.severity == "error" else "warnings"] += 1
            if problem.line is not None and row["first_line"] is None:
                row["first_line"] = problem.line
        return sorted(
            counts.values(),
            key=lambda row: (-(row["errors"] + row["warnings"]), row["column"] or ""),
        )


class ImportFailed(Exception):
    """The file has errors; nothing was written. ``report`` lists every problem."""

    def __init__(self, report: ImportReport):
        super().__init__(f"{len(report.errors)} error(s); nothing was imported")
        self.report = report


def _known_studios(names: set[str]) -> dict[str, importing.KnownStudio]:
    """The studios the file names, and those whose names differ from one of
    them only in case or spacing (the importer refuses such a name as new)."""
    keys = {importing.name_key(name) for name in names}
    similar = [
        name
        for name in Studio.objects.values_list("name", flat=True)
        if name not in names and importing.name_key(name) in keys
    ]
    studios = {s.name: s for s in Studio.objects.filter(name__in=[*names, *similar])}
    months: dict[UUID, dict] = defaultdict(dict)
    revenue: dict[UUID, dict] = defaultdict(dict)
    for studio_id, month, members, total, outlier in MonthlyMetric.objects.filter(
        studio__in=studios.values()
    ).values_list(
        "studio_id", "month_year", "total_members", "total_revenue", "is_outlier"
    ):
        months[studio_id][month] = members
        revenue[studio_id][month] = None if outlier else float(total)
    return {
        name: importing.KnownStudio(
            studio.max_capacity, months[studio.pk], revenue[studio.pk], studio.currency
        )
        for name, studio in studios.items()
    }


def metrics_import(
    *,
    data: bytes | str,
    default_studio_type: str | None = None,
    default_location: str | None = None,
    default_currency: str = "USD",
    dry_run: bool = False,
) -> ImportReport:
    """Validate a metrics CSV and upsert it in one transaction, or write nothing.

    Every row is validated (types, ranges, duplicates, gaps, identities) before
    any write; on any error :class:`ImportFailed` is raised with every problem
    and the database is untouched. Rows are upserted on (studio, month), so
    importing the same file twice changes nothing the second time. Unknown
    studios are created from the file's studio columns (``default_studio_type``
    and ``default_location`` fill in what the file leaves out), with their money
    in ``default_currency``; a known studio keeps its own currency.
    """
    text = importing.read_csv_text(data)
    names = {
        (row.get("studio_name") or "").strip()
        for row in csv.DictReader(io.StringIO(text))
    }
    parsed = importing.parse_metrics_csv(
        text,
        known_studios=_known_studios(names),
        default_studio_type=default_studio_type,
        default_location=default_location,
        default_currency=default_currency,
    )
    report = ImportReport(
        rows=len(parsed.rows),
        problems=parsed.problems,
        ignored_columns=parsed.ignored_columns,
        dry_run=dry_run,
    )
    if not report.ok:
        raise ImportFailed(report)

    with transaction.atomic():
        studios = _studios_for_import(
            parsed.rows, default_studio_type, default_currency, report
        )
        _upsert_metrics(parsed.rows, studios, report)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _studios_for_import(
    rows: list[importing.ParsedRow],
    default_studio_type: str | None,
    default_currency: str,
    report: ImportReport,
) -> dict[str, Studio]:
    studios = {
        s.name: s
        for s in Studio.objects.select_for_update().filter(
            name__in={r.studio_name for r in rows}
        )
    }
    new: dict[str, Studio] = {}
    for row in rows:
        if row.studio_name in studios or row.studio_name in new:
            continue
        fields = row.studio_fields
        studio = Studio(
            name=row.studio_name,
            studio_type=fields.get("studio_type") or default_studio_type,
            currency=default_currency,
            city=fields.get("city", ""),
            state=fields.get("state", ""),
            max_capacity=fields["max_capacity"],
            square_footage=fields.get("square_footage"),
            opening_date=fields.get("opening_date"),
        )
        studio.full_clean()
        new[row.studio_name] = studio
    Studio.objects.bulk_create(new.values())
    report.studios_created = sorted(new)
    if new and dollar_rate(default_currency) is None:
        report.problems.append(
            importing.Problem(
                None,
                None,
                f"the new studios' money is in {default_currency}, which CURRENCY_RATES "
                "does not list: the tactics' costs (written in US dollars) stay in "
                "dollars for them and plans cannot subtract them from revenue "
                f"(optimizeLevers with TACTICS costs is refused) until the operator sets "
                f"a rate ({default_currency}=<units a dollar buys>)",
                severity="warning",
            )
        )
    return {**studios, **new}


def _metric_values(row: importing.ParsedRow) -> dict[str, object]:
    values = {name: row.values.get(name) for name in importing.METRIC_FIELDS}
    values["is_outlier"] = bool(row.values.get("is_outlier", False))
    values["outlier_reason"] = row.values.get("outlier_reason", "")
    values["expected_values"] = row.expected_values
    return values


def _upsert_metrics(
    rows: list[importing.ParsedRow],
    studios: dict[str, Studio],
    report: ImportReport,
) -> None:
    existing = {
        (m.studio_id, m.month_year): m
        for m in MonthlyMetric.objects.filter(studio__in=studios.values())
    }
    to_create, to_update, changed_studios = [], [], set()
    for row in rows:
        studio = studios[row.studio_name]
        values = _metric_values(row)
        metric = existing.get((studio.pk, row.month_year))
        if metric is None:
            to_create.append(
                MonthlyMetric(studio=studio, month_year=row.month_year, **values)
            )
            changed_studios.add(studio.pk)
        elif any(getattr(metric, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(metric, name, value)
            to_update.append(metric)
            changed_studios.add(studio.pk)
        else:
            report.unchanged += 1
    MonthlyMetric.objects.bulk_create(to_create, batch_size=2000)
    MonthlyMetric.objects.bulk_update(to_update, METRIC_WRITE_FIELDS, batch_size=1000)
    report.created, report.updated = len(to_create), len(to_update)
    if changed_studios:
        studio_data_changed(studio_ids=changed_studios)
        # Live accuracy (forecasting) records the actuals of the new months.
        metrics_imported.send(sender=MonthlyMetric, studio_ids=changed_studios)


# --- loading generated demo data (SPEC §2) -------------------------------------


@dataclass
class LoadReport:
    studios: int = 0
    metrics: int = 0
    class_types: int = 0
    cohorts: int = 0


def _money(value: float) -> Decimal | None:
    return None if value is None or value != value else Decimal(f"{value:.2f}")


def _optional(value):
    """NaN (pandas' missing) to None."""
    return None if value is None or value != value else value


def generated_data_load(
    *,
    data,
    replace: bool = False,
    batch_size: int = 5000,
    progress: Callable[[str, int, int], None] | None = None,
) -> LoadReport:
    """Bulk-load a :class:`studios.generator.GeneratedData` in one transaction.

    With ``replace`` every existing studio (and all its data) is deleted first;
    without it, a name clash with an existing studio is refused before any write.
    ``progress(table, done, total)`` is called after each batch.
    """
    studio_rows = data.studios.to_dict("records")
    with transaction.atomic():
        if replace:
            Studio.objects.all().delete()
        else:
            clash = list(
                Studio.objects.filter(
                    name__in=[r["name"] for r in studio_rows]
                ).values_list("name", flat=True)[:5]
            )
            if clash:
                raise ValueError(
                    "Studios with these names exist already: "
                    + ", ".join(clash)
                    + ". Use --replace to start afresh."
                )
        studios = [
            Studio(
                name=r["name"],
                studio_type=r["studio_type"],
                city=r["city"],
                state=r["state"],
                opening_date=r["opening_date"],
                square_footage=int(r["square_footage"]),
                max_capacity=int(r["max_capacity"]),
            )
            for r in studio_rows
        ]
        Studio.objects.bulk_create(studios, batch_size=batch_size)
        by_name = {s.name: s for s in studios}
        report = LoadReport(studios=len(studios))
        report.metrics = _bulk_load(
            MonthlyMetric,
            _metric_objects(data.metrics, by_name),
            len(data.metrics),
            batch_size,
            progress,
        )
        report.class_types = _bulk_load(
            ClassType,
            (
                ClassType(
                    studio=by_name[r["studio_name"]],
                    class_name=r["class_name"],
                    class_price=_money(r["class_price"]),
                    max_capacity=int(r["max_capacity"]),
                    avg_attendance_rate=float(r["avg_attendance_rate"]),
                )
                for r in data.class_types.to_dict("records")
            ),
            len(data.class_types),
            batch_size,
            progress,
        )
        report.cohorts = _bulk_load(
            MemberCohort,
            (
                MemberCohort(
                    studio=by_name[r["studio_name"]],
                    join_month=r["join_month"].date(),
                    cohort_size=int(r["cohort_size"]),
                    retention_month_1=_optional(r["retention_month_1"]),
                    retention_month_3=_optional(r["retention_month_3"]),
                    retention_month_6=_optional(r["retention_month_6"]),
                    retention_month_12=_optional(r["retention_month_12"]),
                    avg_ltv=_money(r["avg_ltv"]),
                )
                for r in data.cohorts.to_dict("records")
            ),
            len(data.cohorts),
            batch_size,
            progress,
        )
    return report


def _metric_objects(metrics, by_name: dict[str, Studio]) -> Iterator[MonthlyMetric]:
    expected_columns = [c for c in metrics.columns if c.startswith("expected_")]
    for r in metrics.to_dict("records"):
        values = {}
        for name in importing.METRIC_FIELDS:
            value = _optional(r.get(name))
            if value is not None:
                if name in importing.MONEY_FIELDS:
                    value = _money(value)
                elif name in importing.INT_FIELDS:
                    value = int(value)
                else:
                    value = float(value)
            values[name] = value
        yield MonthlyMetric(
            studio=by_name[r["studio_name"]],
            month_year=r["month_year"].date(),
            is_outlier=bool(r["is_outlier"]),
            outlier_reason=r["outlier_reason"] or "",
            split=r["split"],
            expected_values={
                c.removeprefix("expected_"): float(r[c])
                for c in expected_columns
                if r[c] == r[c]
            },
            **values,
        )


def _batched(iterable: Iterable, size: int) -> Iterator[list]:
    # itertools.batched arrives only in Python 3.12.
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _bulk_load(model, objects, total, batch_size, progress) -> int:
    done = 0
    for batch in _batched(objects, batch_size):
        model.objects.bulk_create(batch)
        done += len(batch)
        if progress:
            progress(model._meta.verbose_name_plural, done, total)
    return done


# --- API tokens -----------------------------------------------------------------

# A token carries 256 random bits, so a plain SHA-256 is enough to store it: there
# is nothing to brute-force, and a fast hash keeps every API request cheap.
API_TOKEN_BYTES = 32
API_TOKEN_PREFIX_LENGTH = 8
# last_used_at is a hint for people auditing tokens, not a log: writing it at
# most once a minute keeps a busy client from turning every read into a write.
API_TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenInvalid(Exception):
    """The presented token is unknown, revoked, expired, or its user is inactive."""


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns it and its plaintext, shown only once."""
    key = secrets.token_urlsafe(API_TOKEN_BYTES)
    token = ApiToken(
        user=user,
        name=name,
        key_prefix=key[:API_TOKEN_PREFIX_LENGTH],
        key_hash=api_token_digest(key),
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    return token, key


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke ``token`` for good; revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def _api_token_with_user(
    key_hash: str, *, using: str = DEFAULT_DB_ALIAS
) -> ApiToken | None:
    """The token whose digest is ``key_hash``, its user loaded by the same query."""
    connection = connections[using]
    row = rows.fetch_one(_api_token_sql(using), [key_hash], connection)
    if row is None:
        return None
    width = len(ApiToken._meta.concrete_fields)
    token = rows.instance(ApiToken, row[:width], connection)
    token.user = rows.instance(get_user_model(), row[width:], connection)
    return token


@functools.cache
def _api_token_sql(using: str) -> str:
    connection = connections[using]
    User = get_user_model()
    return (
        f"SELECT {rows.columns(ApiToken, connection, 't')}, "
        f"{rows.columns(User, connection, 'u')} "
        f"FROM {rows.table(ApiToken, connection)} t "
        f"INNER JOIN {rows.table(User, connection)} u "
        f"ON {rows.column(User, 'pk', connection, 'u')} = "
        f"{rows.column(ApiToken, 'user', connection, 't')} "
        f"WHERE {rows.column(ApiToken, 'key_hash', connection, 't')} = %s"
    )


def api_token_authenticate(*, key: str) -> ApiToken:
    """The usable token whose plaintext is ``key``, with its user loaded.

    The lookup is by SHA-256, so the database compares digests the caller cannot
    steer byte by byte: its timing reveals nothing about stored tokens. Unknown,
    revoked and expired tokens, and tokens of inactive users, all raise the same
    :class:`ApiTokenInvalid`. ``last_used_at`` is refreshed with one conditional
    UPDATE at most once per :data:`API_TOKEN_LAST_USED_RESOLUTION`.
    """
    now = timezone.now()
    # One lookup by the unique digest, SQL written once (every API request makes
    # it: see studiosim.rows); whether the token may still be used is then
    # decided here, the same way for every refusal.
    token = _api_token_with_user(api_token_digest(key))
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not token.user.is_active
    ):
        raise ApiTokenInvalid("The API token is unknown, revoked or expired.")
    stale = now - API_TOKEN_LAST_USED_RESOLUTION
    if token.last_used_at is None or token.last_used_at < stale:
        # The filter repeats the staleness test so concurrent requests write once.
        ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=token.pk
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
