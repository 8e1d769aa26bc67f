"""Template filters for figures as a person reads them (studiosim.display)."""

from django import template

from studiosim import display

register = template.Library()


@register.filter
def money(value, currency="USD"):
    """``{{ revenue|money:studio.currency }}`` -> ``$88,491``."""
    return display.format_money(value, currency or "USD")


@register.filter
def money_cents(value, currency="USD"):
    return display.format_money(value, currency or "USD", places=2)


@register.filter
def percent(value, places=1):
    """``{{ 0.9422|percent }}`` -> ``94.2%``."""
    return display.format_percent(value, places=int(places))


@register.filter
def signed_percent(value, places=1):
    return display.format_signed_percent(value, places=int(places))


@register.filter
def count(value):
    return display.format_count(value)


@register.filter
def attr(value, name):
    """An attribute of an object, for what the template language cannot reach
    (``{{ months|last|attr:"month_year" }}``)."""
    return getattr(value, name, None)
