"""Template filters: relative times, durations, rough estimates, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from babel.numbers import format_decimal

from ..i18n import format_datetime, format_timedelta, gettext, locale
from ..models import utcnow


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """Say how long ago ``value`` was ("5 min. ago", "vor 3 Tagen"), or "in 2 min." for the
    future, in the request's locale."""
    if value is None:
        return "—"
    delta = (now or utcnow()) - value
    if abs(delta.total_seconds()) < 45:
        return gettext("just now") if delta.total_seconds() >= 0 else gettext("in a moment")
    return format_timedelta(-delta, direction=True)


def seconds(value: float | None) -> str:
    """Render a duration compactly: "850 ms", "42 s", "3 min 5 s", "2 h 4 min"."""
    if value is None:
        return "—"
    if value < 1:
        millis = round(value * 1000)
        return gettext("%(num)s ms", num=millis)
    if value < 60:
        whole = _decimal(value) if value < 10 else str(round(value))
        return gettext("%(num)s s", num=whole)
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return _pair(minutes, gettext("%(num)s min", num=minutes), secs, _s(secs))
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _pair(hours, gettext("%(num)s h", num=hours), minutes, _min(minutes))
    days, hours = divmod(hours, 24)
    return _pair(days, gettext("%(num)s d", num=days), hours, _h(hours))


def _decimal(value: float) -> str:
    return format_decimal(round(value, 1), format="0.0", locale=locale())


def _s(n: int) -> str:
    return gettext("%(num)s s", num=n)


def _min(n: int) -> str:
    return gettext("%(num)s min", num=n)


def _h(n: int) -> str:
    return gettext("%(num)s h", num=n)


def _pair(_big: int, big: str, small: int, small_text: str) -> str:
    return f"{big} {small_text}" if small else big


def about(value: float | None) -> str:
    """Render an expected duration roughly: "under 1 s", "5 s", "2 min", "1 h 10 min"."""
    if value is None:
        return "—"
    if value < 1:
        return gettext("under 1 s")
    if value < 60:
        return _s(round(value))
    if value < 3600:
        return _min(round(value / 60))
    hours, minutes = divmod(round(value / 60), 60)
    return _pair(hours, _h(hours), minutes, _min(minutes))


def utc(value: datetime | None) -> str:
    """An exact UTC timestamp in the locale's way ("Nov 23, 2026, 6:42:09 PM UTC",
    "23.11.2026, 18:42:09 UTC")."""
    if value is None:
        return "—"
    return format_datetime(value.astimezone(UTC) if value.tzinfo else value)
