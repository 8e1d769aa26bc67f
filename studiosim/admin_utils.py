"""Small helpers shared by the apps' admin modules."""

import json

from django.utils.html import format_html
from django.utils.safestring import SafeString


def pretty_json(value: object) -> SafeString:
    """Indented, escaped JSON in a <pre> block for read-only admin fields."""
    if value in (None, {}, []):
        return format_html("<em>{}</em>", "empty")
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>',
        text,
    )
