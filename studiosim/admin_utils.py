"""Small helpers shared by the apps' admin modules: JSON shown as tables, and
figures formatted the way the owner pages format them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from studiosim.display import (
    format_count,
    format_lever,
    format_money,
    format_percent,
)

__all__ = ["figure", "json_table", "pretty_json"]

#: Keys whose numbers are fractions to show as percentages, and keys whose
#: numbers are amounts of money. Anything else numeric is shown to 4 significant
#: figures (ratios, counts, weights).
_PERCENT_KEY = re.compile(
    r"(rate|mape|coverage|accuracy|_pct$|^pct|percent|relative_width|"
    r"business_impact|confidence|probability|share|within_|over_)",
    re.I,
)
_MONEY_KEY = re.compile(
    r"(revenue|price|rmse|^mae$|impact_on|expected_impact|gain|ltv|cost_estimate|"
    r"actual|lower|upper)",
    re.I,
)
_MAX_ROWS = 200


def _label(key: object) -> str:
    text = str(key).replace("_", " ")
    return text[:1].upper() + text[1:]


def figure(key: str, value: object, currency: str = "USD") -> str:
    """``value`` as a person reads it, judged by the name it is stored under."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    lever = format_lever(key, value, currency)
    if lever is not None:
        return lever
    if _PERCENT_KEY.search(key) and not _MONEY_KEY.search(key):
        return format_percent(value)
    if _MONEY_KEY.search(key):
        return format_money(value, currency, places=2 if abs(value) < 1000 else 0)
    if isinstance(value, int):
        return format_count(value)
    return f"{value:,.4g}"


#: Keys whose value is in the unit of the row's ``lever``.
_LEVER_VALUE_KEYS = {"current", "recommended", "target_value", "value"}


def _cell(key: str, value: object, depth: int, lever: object = None) -> SafeString:
    if isinstance(lever, str) and key in _LEVER_VALUE_KEYS:
        text = format_lever(lever, value) if isinstance(value, int | float) else None
        if text is not None:
            return format_html("{}", text)
    if isinstance(value, Mapping):
        return (
            _dict_table(value, depth + 1)
            if value
            else format_html("<em>{}</em>", "empty")
        )
    if isinstance(value, list | tuple):
        return _list(key, value, depth + 1)
    return format_html("{}", figure(key, value))


def _dict_table(value: Mapping, depth: int) -> SafeString:
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td>{}</td></tr>',
        ((_label(k), _cell(str(k), v, depth)) for k, v in value.items()),
    )
    return format_html('<table class="json-table"><tbody>{}</tbody></table>', rows)


def _list(key: str, value: Sequence, depth: int) -> SafeString:
    if not value:
        return format_html("<em>{}</em>", "none")
    if all(isinstance(item, Mapping) for item in value):
        columns = list(dict.fromkeys(k for item in value for k in item))
        head = format_html_join(
            "", '<th scope="col">{}</th>', ((_label(c),) for c in columns)
        )
        shown = value[:_MAX_ROWS]
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "",
                        "<td>{}</td>",
                        (
                            (_cell(str(c), item.get(c), depth, item.get("lever")),)
                            for c in columns
                        ),
                    ),
                )
                for item in shown
            ),
        )
        more = (
            format_html(
                '<p class="help">… and {} more rows.</p>', len(value) - _MAX_ROWS
            )
            if len(value) > _MAX_ROWS
            else ""
        )
        return format_html(
            '<table class="json-table"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
            "</table>{}",
            head,
            body,
            more,
        )
    return format_html("{}", ", ".join(figure(key, item) for item in value[:_MAX_ROWS]))


def json_table(value: object, *, raw: bool = True) -> SafeString:
    """JSON as nested tables (objects as label/value rows, lists of objects as
    tables with a column per key), numbers formatted by the name they are stored
    under; the JSON itself below, folded, for copying."""
    if value in (None, {}, []):
        return format_html("<em>{}</em>", "empty")
    if isinstance(value, Mapping):
        table = _dict_table(value, 0)
    elif isinstance(value, list | tuple):
        table = _list("", value, 0)
    else:
        table = format_html("{}", figure("", value))
    if not raw:
        return table
    return format_html(
        '{}<details class="json-raw"><summary>JSON</summary>{}</details>',
        table,
        pretty_json(value),
    )


def pretty_json(value: object) -> SafeString:
    """Indented, escaped JSON in a <pre> block for read-only admin fields."""
    if value in (None, {}, []):
        return format_html("<em>{}</em>", "empty")
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>',
        text,
    )
