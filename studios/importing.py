"""Parsing and validating a metrics CSV (SPEC §3), before anything is written.

One row per studio-month. The parser turns every cell into a typed value and
collects every problem with its line and column instead of stopping at the
first; :func:`studios.services.metrics_import` writes only when there is none.
Line numbers count the header as line 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from statistics import median

from studios.models import OutlierReason, StudioType
from studios.month_checks import unfinished_month
from studiosim.display import currency_prefix

# The identity members(t) = members(t-1) + new(t) - churned(t) is checked with
# this tolerance (members), and reported as a warning: real exports round and
# backdate, and a mismatch is worth a look, not a refusal.
IDENTITY_TOLERANCE = 1
#: A currency as Studio.currency holds it: an ISO 4217 code.
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# The five revenue components, when all are given, must add up to the total
# within this many currency units (a warning beyond it).
COMPONENT_TOLERANCE = Decimal("1.00")

REQUIRED_COLUMNS = (
    "studio_name",
    "month_year",
    "total_members",
    "new_members",
    "churned_members",
    "avg_ticket_price",
    "total_classes_held",
    "total_class_attendance",
    "total_revenue",
)
INT_FIELDS = (
    "total_members",
    "new_members",
    "churned_members",
    "total_classes_held",
    "total_class_attendance",
    "staff_count",
    "intro_offer_conversions",
)
MONEY_FIELDS = (
    "avg_ticket_price",
    "membership_revenue",
    "class_pack_revenue",
    "intro_offer_revenue",
    "retail_revenue",
    "upsell_revenue",
    "total_revenue",
)
REVENUE_COMPONENTS = MONEY_FIELDS[1:6]
RATE_FIELDS = (
    "retention_rate",
    "class_attendance_rate",
    "staff_utilization_rate",
    "upsell_rate",
)
FLOAT_FIELDS = ("average_member_lifetime_months",)
FLAG_FIELDS = ("is_outlier", "outlier_reason")
STUDIO_COLUMNS = (
    "studio_type",
    "location",
    "city",
    "state",
    "max_capacity",
    "opening_date",
    "square_footage",
)
# Written by the generator's CSV but computed here, never taken from the file.
COMPUTED_COLUMNS = ("split",)
EXPECTED_PREFIX = "expected_"

METRIC_FIELDS = INT_FIELDS + MONEY_FIELDS + RATE_FIELDS + FLOAT_FIELDS
_COLUMN_MEANING = {
    "studio_name": "each studio's name",
    "month_year": "the month",
    "total_members": "the member count at the month's end",
    "new_members": "the month's new members",
    "churned_members": "the month's cancellations",
    "avg_ticket_price": "the average monthly price of a membership",
    "total_classes_held": "the number of classes held in the month",
    "total_class_attendance": "the month's class visits (a count, not a rate)",
    "total_revenue": "the month's total revenue",
}
KNOWN_COLUMNS = (
    frozenset(REQUIRED_COLUMNS)
    | frozenset(METRIC_FIELDS)
    | frozenset(FLAG_FIELDS)
    | frozenset(STUDIO_COLUMNS)
    | frozenset(COMPUTED_COLUMNS)
)
#: What booking systems call the required columns (as _column_name writes a
#: header cell): a missing column found under one of these names is pointed out,
#: never read silently (an "attendance" column may hold a rate, not visits).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "studio_name": ("studio", "location_name", "site", "site_name", "club", "name"),
    "month_year": ("month", "period", "date", "year_month", "month_start"),
    "total_members": (
        "members",
        "active_members",
        "member_count",
        "memberships",
        "active_memberships",
    ),
    "new_members": (
        "new",
        "joins",
        "joiners",
        "sign_ups",
        "signups",
        "new_memberships",
        "new_sales",
    ),
    "churned_members": (
        "churn",
        "churned",
        "cancellations",
        "cancelled",
        "canceled",
        "cancels",
        "terminations",
        "leavers",
    ),
    "avg_ticket_price": (
        "avg_ticket",
        "average_ticket",
        "ticket",
        "price",
        "membership_price",
        "avg_price",
        "average_price",
    ),
    "total_classes_held": ("classes", "classes_held", "sessions", "class_count"),
    "total_class_attendance": (
        "attendance",
        "visits",
        "check_ins",
        "checkins",
        "bookings",
        "attendees",
    ),
    "total_revenue": ("revenue", "sales", "total_sales", "income", "turnover"),
}
TRUE_VALUES = {"1", "true", "t", "yes", "y"}
FALSE_VALUES = {"0", "false", "f", "no", "n", ""}
STUDIO_TYPE_BY_TEXT = {
    **{choice.value: choice.value for choice in StudioType},
    **{choice.label.lower(): choice.value for choice in StudioType},
    "boutique fitness": StudioType.BOUTIQUE_FITNESS.value,
    "boutique": StudioType.BOUTIQUE_FITNESS.value,
}


@dataclass(frozen=True)
class Problem:
    line: int | None
    column: str | None
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        return (
            f"{self.severity}: {prefix}: {self.message}"
            if prefix
            else (f"{self.severity}: {self.message}")
        )


@dataclass
class ParsedRow:
    line: int
    studio_name: str
    month_year: dt.date
    values: dict[str, object]
    expected_values: dict[str, float]
    studio_fields: dict[str, object]
    derived: set[str] = field(default_factory=set)


@dataclass
class ParseResult:
    rows: list[ParsedRow]
    problems: list[Problem]
    ignored_columns: list[str]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


@dataclass(frozen=True)
class KnownStudio:
    """What validation needs to know of a studio already in the database."""

    max_capacity: int
    months: Mapping[dt.date, int]  # month -> total_members
    #: month -> total_revenue, None for a month flagged as an outlier
    revenue: Mapping[dt.date, float | None] = field(default_factory=dict)
    #: in which its money is written (a new studio's is the default, USD)
    currency: str = "USD"


def read_csv_text(data: bytes | str) -> str:
    """Decode an upload as UTF-8, dropping a byte-order mark if there is one."""
    if isinstance(data, bytes):
        return data.decode("utf-8-sig")
    return data.removeprefix("\ufeff")


# Month formats of the API and of ISO dates: a month, or any day of it.
_ISO_MONTH_FORMATS = ("%Y-%m", "%Y-%m-%d")
# What exports also write: the unambiguous others (a month name, or a four-digit
# year on one side). Day-first or month-first dates such as 03/04/2024 are
# ambiguous and refused.
_EXPORT_MONTH_FORMATS = (
    *_ISO_MONTH_FORMATS,
    "%Y/%m",
    "%Y/%m/%d",
    "%m/%Y",
    "%b %Y",
    "%B %Y",
    "%b-%Y",
    "%B-%Y",
    "%b, %Y",
    "%B, %Y",
    # a spreadsheet's mmm-yy ("Jan-24"); never "Jan 24", which reads as a day
    "%b-%y",
)


# A timestamp at midnight, as spreadsheets, dataframes and JSON write a date
# column: "2024-03-01 00:00:00", "2024-03-01T00:00", "2024-03-01T00:00:00.000Z",
# "2024-03-01T00:00:00+00:00".
_MIDNIGHT = re.compile(r"^(\S+)[ T]00:00(:00(\.0+)?)?(Z|[+-]\d\d:?\d\d)?$")
# A month as a six-digit number, as data warehouses key them: 202403.
_YEAR_MONTH_NUMBER = re.compile(r"^(19|20)\d\d(0[1-9]|1[0-2])$")
# "Sept", the one abbreviation strptime's %b does not know.
_SEPT = re.compile(r"\bsept\b", re.IGNORECASE)


def _parse_month(
    text: str, formats: tuple[str, ...], *, export: bool = False
) -> dt.date:
    text = text.strip()
    midnight = _MIDNIGHT.match(text)
    if midnight:
        text = midnight[1]
    if export:
        if _YEAR_MONTH_NUMBER.match(text):
            return dt.date(int(text[:4]), int(text[4:]), 1)
        text = _SEPT.sub("Sep", text)
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return parsed.replace(day=1)
    raise ValueError(f"{text!r} is not a month (use YYYY-MM or YYYY-MM-DD)")


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` or ``YYYY-MM-DD`` (any day) to the first day of that month."""
    return _parse_month(text, _ISO_MONTH_FORMATS)


def parse_export_month(text: str) -> dt.date:
    """A month as an export writes it, to its first day.

    ``YYYY-MM`` or ``YYYY-MM-DD`` (any day), also ``YYYY/MM``, ``YYYY/MM/DD``,
    ``MM/YYYY``, ``YYYYMM``, ``Mar 2024``, ``March 2024``, ``March, 2024``,
    ``Sept 2024`` and a spreadsheet's ``Jan-24``, and a timestamp at midnight
    (``2024-03-01T00:00:00Z``); never a date whose day and month could be swapped.
    """
    return _parse_month(text, _EXPORT_MONTH_FORMATS, export=True)


# A whole number or amount written with thousands separators: 1,234 or
# 12,345.67, or grouped by spaces as French and Swiss exports do (1 234, with a
# no-break or thin space too).
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_SPACES = " \u00a0\u202f\u2009"
_SPACED_THOUSANDS = re.compile(rf"^[+-]?\d{{1,3}}([{_SPACES}]\d{{3}})+(\.\d*)?$")


def _without_thousands(text: str) -> str:
    if _THOUSANDS.match(text):
        return text.replace(",", "")
    if _SPACED_THOUSANDS.match(text):
        return re.sub(f"[{_SPACES}]", "", text)
    return text


def _without_currency(text: str) -> str:
    """``€41,250.75``, ``41 250,75 €``, ``USD 41,250.75`` without the currency."""
    text = text.strip()
    if text[:1] in "+-":
        return text[0] + _without_currency(text[1:])
    stripped = text
    for _ in range(2):  # one on each side at most
        stripped = _strip_one_currency(stripped)
    return stripped


def _strip_one_currency(text: str) -> str:
    if len(text) >= 3 and text[:3].isalpha() and text[:3].isupper():
        return text[3:].strip()
    if len(text) >= 3 and text[-3:].isalpha() and text[-3:].isupper():
        return text[:-3].strip()
    if text and unicodedata.category(text[0]) == "Sc":
        return text[1:].strip()
    if text and unicodedata.category(text[-1]) == "Sc":
        return text[:-1].strip()
    return text


def _parse_int(text: str) -> int:
    try:
        value = float(_without_thousands(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def _parse_money(text: str) -> Decimal:
    try:
        value = Decimal(_without_thousands(_without_currency(text)))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount of money") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount of money")
    return value.quantize(Decimal("0.01"))


def _parse_float(text: str, *, percent: bool = False) -> float:
    """A number; with ``percent``, ``85%`` is read as 0.85."""
    scale = 1.0
    if percent and text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        value = float(_without_thousands(text)) * scale
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: dt.date) -> dt.date:
    return dt.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def _delimiter(text: str) -> str:
    """The file's delimiter, read off its header: a comma, or the semicolon of
    spreadsheets set to a decimal comma, or a tab."""
    header = text.split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _column_name(text: str) -> str:
    """A header cell as the documented column name: ``Total Members``,
    ``total-members`` and ``TOTAL_MEMBERS`` are ``total_members``."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


# A number written with a decimal comma, thousands grouped by dots, spaces or
# not: 41250,75 or 41.250,75 or 41 250,75 or 1.200.
_DECIMAL_COMMA = re.compile(rf"^[+-]?(\d{{1,3}}([.{_SPACES}]\d{{3}})+|\d+)(,\d+)?%?$")
_HAS_DECIMAL_COMMA = re.compile(r"\d,\d")


def _decimal_commas(raw: dict[str, str | None]) -> dict[str, str | None]:
    """A decimal-comma file's numbers as the rest of the importer reads them:
    ``41.250,75`` -> ``41250.75``, ``0,85`` -> ``0.85``."""
    out = dict(raw)
    for name in METRIC_FIELDS:
        text = out.get(name)
        if not text:
            continue
        number = _without_currency(text) if name in MONEY_FIELDS else text.strip()
        if _DECIMAL_COMMA.match(number):
            out[name] = re.sub(f"[.{_SPACES}]", "", number).replace(",", ".")
    return out


def parse_metrics_csv(
    text: str,
    *,
    known_studios: Mapping[str, KnownStudio],
    default_studio_type: str | None = None,
    default_location: str | None = None,
    default_currency: str = "USD",
) -> ParseResult:
    """Parse and validate every row; nothing is written here.

    Parameters
    ----------
    text
        The CSV as text (see :func:`read_csv_text`).
    known_studios
        Studios already in the database by name, with their months, so gaps and
        the stock-flow identity are checked across the file and the database.
    default_studio_type
        The type given to unknown studios whose row has no ``studio_type``.
    default_location
        "City, State" given to unknown studios whose row has no location; without
        it such a studio is created with a blank location (a warning), for staff
        to fill in.
    default_currency
        The currency (an ISO 4217 code such as USD, EUR, JPY) of unknown
        studios' money; a known studio keeps its own.
    """
    problems: list[Problem] = []
    if not CURRENCY_CODE.fullmatch(default_currency):
        return ParseResult(
            [],
            [
                Problem(
                    None,
                    "currency",
                    f"{default_currency!r} is not a currency code: give three "
                    "capital letters (ISO 4217), such as USD, EUR or JPY",
                )
            ],
            [],
        )
    delimiter = _delimiter(text)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    written = {_column_name(h): h.strip() for h in (reader.fieldnames or [])}
    header = [_column_name(h) for h in (reader.fieldnames or [])]
    if not header:
        return ParseResult([], [Problem(1, None, "the file is empty")], [])
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    for column in missing:
        found = [h for h in header if h in COLUMN_ALIASES[column]]
        problems.append(
            Problem(
                1,
                column,
                "required column is missing"
                + (
                    f"; the file has {written[found[0]]!r}: if it holds "
                    f"{_COLUMN_MEANING[column]}, name it {column}"
                    if found
                    else ""
                ),
            )
        )
    duplicates = sorted({h for h in header if header.count(h) > 1})
    for column in duplicates:
        problems.append(Problem(1, column, "column appears more than once"))
    ignored = [
        h
        for h in header
        if h not in KNOWN_COLUMNS and not h.startswith(EXPECTED_PREFIX)
    ]
    if missing or duplicates:
        return ParseResult([], problems, ignored)

    rows: list[ParsedRow] = []
    seen: dict[tuple[str, dt.date], int] = {}
    # Every month a row names, even a row with errors elsewhere, so one bad
    # cell is not also reported as a gap.
    months_named: dict[str, set[dt.date]] = defaultdict(set)
    raws = list(reader)
    # A semicolon-separated file from a spreadsheet set to a decimal comma writes
    # 41.250,75; one with a comma in no number keeps its points as decimals.
    decimal_comma = delimiter == ";" and any(
        _HAS_DECIMAL_COMMA.search(raw.get(name) or "")
        for raw in raws
        for name in METRIC_FIELDS
    )
    for index, raw in enumerate(raws):
        line = index + 2
        if decimal_comma:
            raw = _decimal_commas(raw)
        row = _parse_row(raw, line, problems, months_named)
        if row is None:
            continue
        key = (row.studio_name, row.month_year)
        if key in seen:
            problems.append(
                Problem(
                    line,
                    "month_year",
                    f"duplicate: {row.studio_name} {row.month_year:%Y-%m} is already "
                    f"on line {seen[key]}",
                )
            )
            continue
        seen[key] = line
        rows.append(row)
    if not rows and not problems:
        problems.append(Problem(None, None, "the file has a header but no rows"))
    _signed_flows(raws, problems)

    _check_studios(rows, known_studios, default_studio_type, default_location, problems)
    _derive_and_check_history(
        rows, months_named, known_studios, default_currency, problems
    )
    problems.sort(key=lambda p: p.line or 0)
    return ParseResult(rows, problems, ignored)


def _signed_flows(raws: list[dict[str, str | None]], problems: list[Problem]) -> None:
    """Some systems write what leaves as a negative number (cancellations -12):
    where every value of such a column is negative or 0, say so once, beside the
    per-line errors."""
    for name in ("churned_members",):
        values = [(raw.get(name) or "").strip() for raw in raws]
        values = [v for v in values if v]
        negative = sum(v.startswith("-") for v in values)
        if negative >= 2 and all(v.startswith("-") or v == "0" for v in values):
            problems.append(
                Problem(
                    None,
                    name,
                    f"every {name} is negative or 0 ({negative} lines): the system "
                    "seems to write cancellations as negative numbers; write them "
                    "as counts (12, not -12)",
                )
            )


def _parse_row(
    raw: dict[str, str | None],
    line: int,
    problems: list[Problem],
    months_named: dict[str, set[dt.date]],
) -> ParsedRow | None:
    if None in raw:  # more cells than header columns
        problems.append(Problem(line, None, "the row has more cells than the header"))
        return None
    cells = {k: (v or "").strip() for k, v in raw.items()}
    ok = True

    def error(column: str, message: str) -> None:
        nonlocal ok
        ok = False
        problems.append(Problem(line, column, message))

    studio_name = cells.get("studio_name", "")
    if not studio_name:
        error("studio_name", "is empty")
    month = None
    try:
        month = parse_export_month(cells.get("month_year", ""))
    except ValueError as exc:
        error("month_year", str(exc))
    if studio_name and month is not None:
        months_named[studio_name].add(month)

    values: dict[str, object] = {}
    for name in METRIC_FIELDS:
        text = cells.get(name, "")
        if text == "":
            if name in REQUIRED_COLUMNS:
                error(
                    name,
                    "is required; a month the system did not record can be left out "
                    "of the file (a missing month is treated as missing data)",
                )
            continue
        try:
            if name in INT_FIELDS:
                value: object = _parse_int(text)
            elif name in MONEY_FIELDS:
                value = _parse_money(text)
            else:
                value = _parse_float(text, percent=name in RATE_FIELDS)
        except ValueError as exc:
            error(name, str(exc))
            continue
        if name in RATE_FIELDS and not 0 <= value <= 1:
            error(
                name, f"{text} is outside [0, 1] (rates are fractions, not percentages)"
            )
            continue
        if value < 0:
            error(name, f"{text} is negative")
            continue
        values[name] = value

    flag = cells.get("is_outlier", "").lower()
    if flag in TRUE_VALUES:
        values["is_outlier"] = True
    elif flag in FALSE_VALUES:
        values["is_outlier"] = False
    else:
        error("is_outlier", f"{cells['is_outlier']!r} is not true/false")
    reason = cells.get("outlier_reason", "").lower()
    if reason not in OutlierReason.values:
        error(
            "outlier_reason",
            f"{reason!r} is not one of {', '.join(v for v in OutlierReason.values if v)}",
        )
    else:
        values["outlier_reason"] = reason
        if reason and "is_outlier" in values and not flag:
            values["is_outlier"] = True

    expected: dict[str, float] = {}
    for column, text in cells.items():
        if column.startswith(EXPECTED_PREFIX) and text != "":
            try:
                expected[column.removeprefix(EXPECTED_PREFIX)] = _parse_float(text)
            except ValueError as exc:
                error(column, str(exc))

    studio_fields: dict[str, object] = {}
    if cells.get("studio_type"):
        studio_type = STUDIO_TYPE_BY_TEXT.get(cells["studio_type"].lower())
        if studio_type is None:
            error(
                "studio_type",
                f"{cells['studio_type']!r} is not one of "
                + ", ".join(StudioType.labels),
            )
        studio_fields["studio_type"] = studio_type
    city, state = cells.get("city", ""), cells.get("state", "")
    if cells.get("location") and not city:
        city, state = split_location(cells["location"])
    if city:
        studio_fields["city"], studio_fields["state"] = city, state
    for name in ("max_capacity", "square_footage"):
        if cells.get(name):
            try:
                number = _parse_int(cells[name])
                if number < 1:
                    raise ValueError(f"{cells[name]} must be at least 1")
                studio_fields[name] = number
            except ValueError as exc:
                error(name, str(exc))
    if cells.get("opening_date"):
        try:
            studio_fields["opening_date"] = dt.date.fromisoformat(cells["opening_date"])
        except ValueError:
            error(
                "opening_date", f"{cells['opening_date']!r} is not a date (YYYY-MM-DD)"
            )

    if not ok or month is None:
        return None
    return ParsedRow(line, studio_name, month, values, expected, studio_fields)


def split_location(text: str) -> tuple[str, str]:
    """ "City, State" -> ("City", "State"); a text without a comma is the city."""
    city, _, state = (part.strip() for part in text.partition(","))
    return city, state


def _check_studios(
    rows: list[ParsedRow],
    known: Mapping[str, KnownStudio],
    default_studio_type: str | None,
    default_location: str | None,
    problems: list[Problem],
) -> None:
    """Unknown studios need a type and a capacity (given, or derivable).

    A location is welcome but not required: without one (in the file or as
    ``default_location``) the studio is created with a blank location and a
    warning says so.
    """
    first_row: dict[str, ParsedRow] = {}
    for row in rows:
        first_row.setdefault(row.studio_name, row)
    # A name that differs from another only in case or spacing is one studio
    # written two ways (two systems' exports put together): creating a second
    # studio for it would split its history.
    seen: dict[str, str] = {name_key(name): name for name in known}
    for name, row in first_row.items():
        if name in known:
            continue
        other = seen.setdefault(name_key(name), name)
        if other != name:
            problems.append(
                Problem(
                    row.line,
                    "studio_name",
                    f"studio {name!r} would be new, but {other!r} "
                    + ("is already known" if other in known else "is in the file too")
                    + ": the names differ only in case or spacing; write one "
                    "studio's name the same way throughout",
                )
            )
            continue
        if not row.studio_fields.get("studio_type") and not default_studio_type:
            problems.append(
                Problem(
                    row.line,
                    "studio_type",
                    f"studio {name!r} is new: give its studio_type in the file or "
                    "with --studio-type",
                )
            )
        if not row.studio_fields.get("city"):
            if default_location:
                city, state = split_location(default_location)
                row.studio_fields["city"], row.studio_fields["state"] = city, state
            else:
                problems.append(
                    Problem(
                        row.line,
                        "location",
                        f"studio {name!r} is new and has no location: it is created "
                        "with a blank one, to fill in later (in the admin)",
                        severity="warning",
                    )
                )
        if "max_capacity" not in row.studio_fields:
            capacity = _capacity_from_rows(r for r in rows if r.studio_name == name)
            if capacity is None:
                problems.append(
                    Problem(
                        row.line,
                        "max_capacity",
                        f"studio {name!r} is new: give max_capacity (people per "
                        "class), or class_attendance_rate so it can be derived",
                    )
                )
            else:
                row.studio_fields["max_capacity"] = capacity


def name_key(name: str) -> str:
    """A studio name as compared for near-duplicates: case and spacing aside."""
    return " ".join(name.split()).casefold()


def _capacity_from_rows(rows: Iterable[ParsedRow]) -> int | None:
    for row in rows:
        rate = row.values.get("class_attendance_rate")
        classes = row.values.get("total_classes_held")
        if rate and classes:
            return max(
                1, round(row.values["total_class_attendance"] / (classes * rate))
            )
    return None


def _derive_and_check_history(
    rows: list[ParsedRow],
    months_named: Mapping[str, set[dt.date]],
    known: Mapping[str, KnownStudio],
    default_currency: str,
    problems: list[Problem],
) -> None:
    """Gaps, the stock-flow identity, and the fields derivable from others."""
    by_studio: dict[str, list[ParsedRow]] = defaultdict(list)
    for row in rows:
        by_studio[row.studio_name].append(row)

    for name, studio_rows in by_studio.items():
        studio_rows.sort(key=lambda r: r.month_year)
        existing = known.get(name)
        members_by_month: dict[dt.date, int] = dict(existing.months) if existing else {}
        for row in studio_rows:
            members_by_month[row.month_year] = row.values["total_members"]
        capacity = (
            existing.max_capacity
            if existing
            else studio_rows[0].studio_fields.get("max_capacity")
        )

        present = set(members_by_month) | months_named.get(name, set())
        missing = []
        month, last = min(present), max(present)
        while month < last:
            if month not in present:
                missing.append(month)
            month = next_month(month)
        if missing:
            shown = ", ".join(f"{m:%Y-%m}" for m in missing[:6])
            more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
            # Exports skip months (a system migration, a month nobody closed):
            # the months stay missing, the model works around them, and a
            # studio missing too many is left out of training with the reason.
            problems.append(
                Problem(
                    studio_rows[0].line,
                    "month_year",
                    f"studio {name!r} has gaps in its months: {shown}{more} missing; "
                    "they are treated as missing data",
                    severity="warning",
                )
            )

        breaks: list[tuple[ParsedRow, int, int]] = []
        for row in studio_rows:
            _derive(row, members_by_month, capacity, problems, breaks)
        _identity_warnings(name, len(studio_rows), breaks, problems)
        if studio_rows[-1].month_year > max(
            existing.months if existing else (), default=dt.date.min
        ):
            _unfinished_warning(
                name,
                studio_rows,
                existing,
                members_by_month,
                existing.currency if existing else default_currency,
                problems,
            )


def _unfinished_warning(
    name: str,
    studio_rows: list[ParsedRow],
    existing: KnownStudio | None,
    members_by_month: Mapping[dt.date, int],
    currency: str,
    problems: list[Problem],
) -> None:
    """Warn when the studio's latest month looks exported before it ended
    (:func:`studios.month_checks.unfinished_month`), against the months before
    it in the database and in the file (the file's figures win): a monthly
    import of the month just closed is checked like a whole history."""
    latest = studio_rows[-1]
    if latest.values.get("is_outlier"):
        return
    revenue: dict[dt.date, float | None] = dict(existing.revenue) if existing else {}
    for row in studio_rows[:-1]:
        revenue[row.month_year] = (
            None if row.values.get("is_outlier") else float(row.values["total_revenue"])
        )
    # the month before, recorded and not an outlier: what the month is held to
    before = previous_month(latest.month_year)
    if revenue.get(before) is None:
        return
    why = unfinished_month(
        [value for _, value in sorted(revenue.items()) if value is not None],
        float(latest.values["total_revenue"]),
        float(members_by_month[before]),
        float(latest.values["total_members"]),
        money=currency_prefix(currency),
    )
    if why:
        problems.append(
            Problem(
                latest.line,
                "total_revenue",
                f"studio {name!r}: {latest.month_year:%Y-%m}, its latest month, looks "
                f"unfinished: {why}. If the export was taken before the month ended, "
                "leave that month out and import it once it closes: forecasts start "
                "from the latest month as it stands",
                severity="warning",
            )
        )


# Identity breaks of one studio listed one by one up to this many; beyond it one
# warning sums them up (an export that breaks it every month would otherwise
# print a line per row).
_IDENTITY_LISTED = 3


def _identity_warnings(
    name: str,
    months: int,
    breaks: list[tuple[ParsedRow, int, int]],
    problems: list[Problem],
) -> None:
    """Warn of months whose members do not follow last month's + new - churned.

    ``breaks`` holds each such row with last month's member count and the count
    the identity expects. Up to
    :data:`_IDENTITY_LISTED` are listed one by one; more are summed up in one
    warning on the first one's line.
    """

    def detail(row: ParsedRow, previous: int, expected: int) -> str:
        return (
            f"{row.values['total_members']} members, but last month's {previous} + "
            f"{row.values['new_members']} new - {row.values['churned_members']} "
            f"churned = {expected}"
        )

    if len(breaks) <= _IDENTITY_LISTED:
        for row, previous, expected in breaks:
            problems.append(
                Problem(
                    row.line,
                    "total_members",
                    detail(row, previous, expected),
                    "warning",
                )
            )
        return
    gaps = [
        abs(row.values["total_members"] - expected)
        / max(row.values["total_members"], 1)
        for row, _, expected in breaks
    ]
    first, previous, expected = breaks[0]
    problems.append(
        Problem(
            first.line,
            "total_members",
            f"studio {name!r}: in {len(breaks)} of its {months} months the member "
            "count does not follow last month's + new - churned (by a median of "
            f"{100 * median(gaps):.1f}% of members; first "
            f"{first.month_year:%Y-%m}: {detail(first, previous, expected)}); freezes, "
            "transfers or corrections do this, and the model learns the studio's "
            "typical gap",
            "warning",
        )
    )


def _derive(
    row: ParsedRow,
    members_by_month: Mapping[dt.date, int],
    capacity: int | None,
    problems: list[Problem],
    identity_breaks: list[tuple[ParsedRow, int, int]],
) -> None:
    values = row.values
    members, new, churned = (
        values["total_members"],
        values["new_members"],
        values["churned_members"],
    )
    previous = members_by_month.get(previous_month(row.month_year))
    if (
        previous is not None
        and abs(previous + new - churned - members) > IDENTITY_TOLERANCE
    ):
        identity_breaks.append((row, previous, previous + new - churned))
    if previous is None:
        previous = members - new + churned

    if "retention_rate" not in values and previous > 0:
        values["retention_rate"] = min(1.0, max(0.0, 1 - churned / previous))
        row.derived.add("retention_rate")
    if churned > previous > 0 or (previous == 0 and churned > 0):
        problems.append(
            Problem(
                row.line,
                "churned_members",
                f"{churned} churned is more than the {previous} members at the start "
                "of the month",
            )
        )

    classes, attendance = values["total_classes_held"], values["total_class_attendance"]
    if "class_attendance_rate" not in values and capacity and classes:
        rate = attendance / (classes * capacity)
        if rate > 1:
            problems.append(
                Problem(
                    row.line,
                    "total_class_attendance",
                    f"{attendance} attendances exceed {classes} classes x "
                    f"{capacity} places",
                )
            )
        else:
            values["class_attendance_rate"] = rate
            row.derived.add("class_attendance_rate")

    retention = values.get("retention_rate")
    lifetime_missing = "average_member_lifetime_months" not in values
    if lifetime_missing and retention is not None and retention < 1:
        values["average_member_lifetime_months"] = 1 / (1 - retention)
        row.derived.add("average_member_lifetime_months")

    components = [values.get(name) for name in REVENUE_COMPONENTS]
    if all(c is not None for c in components):
        total = sum(components, Decimal("0"))
        if abs(total - values["total_revenue"]) > COMPONENT_TOLERANCE:
            problems.append(
                Problem(
                    row.line,
                    "total_revenue",
                    f"the five revenue components add up to {total}, not "
                    f"{values['total_revenue']}",
                    severity="warning",
                )
            )


def generated_metrics_csv_frame(data):
    """The generator's output in this module's CSV format, so it round-trips.

    Columns: ``studio_name``, ``studio_type``, ``location``, ``max_capacity``,
    ``month_year`` (YYYY-MM), every metric field, the outlier flag and reason,
    ``split`` and the ``expected_*`` truth columns.
    """
    studios = data.studios.assign(
        location=data.studios["city"] + ", " + data.studios["state"]
    ).rename(columns={"name": "studio_name"})[
        ["studio_name", "studio_type", "location", "max_capacity"]
    ]
    metrics = data.metrics.merge(studios, on="studio_name", how="left")
    metrics["month_year"] = metrics["month_year"].dt.strftime("%Y-%m")
    expected = sorted(c for c in metrics.columns if c.startswith(EXPECTED_PREFIX))
    columns = [
        "studio_name",
        "studio_type",
        "location",
        "max_capacity",
        "month_year",
        *(f for f in METRIC_FIELDS if f in metrics.columns),
        "is_outlier",
        "outlier_reason",
        "split",
        *expected,
    ]
    return metrics[columns]
