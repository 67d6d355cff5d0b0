"""Template filters: relative times, durations, rough estimates, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from ..models import utcnow


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """Say how long ago ``value`` was ("5 min ago", "3 d ago"), or "in 2 min" for the future."""
    if value is None:
        return "—"
    delta = ((now or utcnow()) - value).total_seconds()
    future = delta < 0
    delta = abs(delta)
    if delta < 45:
        text = "just now" if not future else "in a moment"
        return text
    for limit, size, unit in (
        (3600, 60, "min"),
        (86400, 3600, "h"),
        (86400 * 45, 86400, "d"),
        (float("inf"), 86400 * 30.44, "mo"),
    ):
        if delta < limit:
            n = max(1, round(delta / size))
            return f"in {n} {unit}" if future else f"{n} {unit} ago"
    return ""  # pragma: no cover - the last limit is infinite


def seconds(value: float | None) -> str:
    """Render a duration compactly: "850 ms", "42 s", "3 min 5 s", "2 h 4 min"."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def about(value: float | None) -> str:
    """Render an expected duration roughly: "under 1 s", "5 s", "2 min", "1 h 10 min"."""
    if value is None:
        return "—"
    if value < 1:
        return "under 1 s"
    if value < 60:
        return f"{round(value)} s"
    if value < 3600:
        return f"{round(value / 60)} min"
    hours, minutes = divmod(round(value / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def utc(value: datetime | None) -> str:
    """An exact UTC timestamp ("2026-11-23 18:42:09 UTC")."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
