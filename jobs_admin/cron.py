"""Standard five-field cron expressions in an IANA time zone: parsing, next tick, plain English.

Our own small implementation rather than a library's, for three reasons: crontab(5) numbers the
weekdays from Sunday = 0 (7 is Sunday too), where APScheduler 3's ``CronTrigger`` starts at
Monday = 0 (the pitfall in DESIGN.md); the daylight-saving rules below are those of Vixie cron
and cronie, which croniter does not follow; and the admin's reading ("At 03:00, every day")
needs no extra dependency.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or ``jan``-``dec``), day of
week (0-7 or ``sun``-``sat``; 0 and 7 are Sunday), each ``*``, a value, a range ``a-b``, a step
``*/n``, ``a-b/n`` or ``a/n``, or a comma list of those. When both day fields are restricted a
day matches if either does (as in cron).

Daylight saving time, as cron users expect (cronie's rules):

- **fixed-time** schedules (neither the minute nor the hour field starts with ``*``, e.g.
  ``30 2 * * *``): a time that does not exist on a spring-forward day fires once, at the first
  minute after the gap (03:00 in Europe/Berlin); a time that happens twice on a fall-back day
  fires once, at its first occurrence.
- **wildcard** schedules (``*/15 * * * *``, ``0 * * * *``): they follow the clock; times in the
  gap do not happen, and the repeated hour's times fire in both occurrences.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import InvalidSchedule

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (name, low, high, names accepted, names' first value) of the five fields.
_FIELDS = (
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 7, _DAYS, 0),
)
#: How far ahead a next tick is looked for (a 29 February every 8 years at worst).
_HORIZON_YEARS = 9
#: Widest change of a UTC offset in one transition, with room to spare.
_SHIFT = timedelta(hours=3)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression (see :func:`parse`)."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: The day-of-month field was ``*`` (then only the weekday restricts days), and likewise.
    any_day: bool
    any_weekday: bool
    #: Minute or hour field starts with ``*``: the schedule follows the clock through DST.
    wildcard: bool

    def day_matches(self, when: datetime) -> bool:
        """Whether ``when``'s date is one of the expression's days."""
        day = when.day in self.days
        weekday = (when.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return weekday
        if self.any_weekday:
            return day
        return day or weekday


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    name, low, high, names, first = _FIELDS[index]

    def number(token: str) -> int:
        token = token.strip().lower()
        if token in names:
            return names.index(token) + first
        if not token.isdigit():
            raise InvalidSchedule(f"bad {name} {token!r}")
        value = int(token)
        if not low <= value <= high:
            raise InvalidSchedule(f"{name} {value} is out of range {low}-{high}")
        return value

    values: set[int] = set()
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        if slash and not step_text.isdigit():
            raise InvalidSchedule(f"bad step in {name} {item!r}")
        step = int(step_text) if slash else 1
        if step < 1:
            raise InvalidSchedule(f"bad step in {name} {item!r}")
        if span == "*":
            start, stop = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            start, stop = number(a), number(b)
            if start > stop:
                raise InvalidSchedule(f"bad {name} range {item!r}")
        else:
            start = number(span)
            stop = high if slash else start
        values.update(range(start, stop + 1, step))
    if index == 4:
        values = {v % 7 for v in values}
    return frozenset(values), text == "*"


@functools.lru_cache(maxsize=4096)
def parse(expr: str) -> Cron:
    """Parse a standard five-field cron expression.

    :param expr: e.g. ``"0 3 * * *"`` or ``"*/15 9-17 * * mon-fri"``.
    :raises InvalidSchedule: not five fields, a bad value, or one that never fires.
    """
    if not isinstance(expr, str):
        raise InvalidSchedule("a cron expression must be a string")
    parts = expr.split()
    if len(parts) != 5:
        raise InvalidSchedule(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    sets = [_field(part, i) for i, part in enumerate(parts)]
    cron = Cron(
        expr=" ".join(parts),
        minutes=sets[0][0],
        hours=sets[1][0],
        days=sets[2][0],
        months=sets[3][0],
        weekdays=sets[4][0],
        any_day=sets[2][1],
        any_weekday=sets[4][1],
        wildcard=parts[0].startswith("*") or parts[1].startswith("*"),
    )
    if _next_local(cron, datetime(2000, 1, 1)) is None:
        raise InvalidSchedule(f"{expr!r} never fires")
    return cron


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    :raises InvalidSchedule: not a zone of the IANA database.
    """
    if not isinstance(name, str) or not name or name not in _zone_names():
        raise InvalidSchedule(
            f"unknown time zone {name!r} (expected an IANA name like Europe/Berlin)"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"unknown time zone {name!r}") from None


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _next_local(cron: Cron, start: datetime) -> datetime | None:
    """The first naive wall-clock minute at or after ``start`` that the expression matches."""
    t = start.replace(second=0, microsecond=0)
    if t < start:
        t += timedelta(minutes=1)
    limit = start.year + _HORIZON_YEARS
    while t.year <= limit:
        if t.month not in cron.months:
            year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
            t = datetime(year, month, 1)
            continue
        if not cron.day_matches(t):
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        if t.hour not in cron.hours:
            t = t.replace(minute=0) + timedelta(hours=1)
            continue
        later = [m for m in cron.minutes if m >= t.minute]
        if not later:
            t = t.replace(minute=0) + timedelta(hours=1)
            continue
        return t.replace(minute=min(later))
    return None


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _instants(cron: Cron, naive: datetime, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall-clock minute ``naive`` fires (see the module's DST
    rules): none, one, or two."""
    if not _exists(naive, tz):
        if cron.wildcard:
            return []
        after = naive
        while not _exists(after, tz):  # the first minute after the gap
            after += timedelta(minutes=1)
        return [after.replace(tzinfo=tz).astimezone(UTC)]
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if second != first and cron.wildcard:
        return [first, second]
    return [first]


def next_after(expr: str | Cron, tz_name: str, after: datetime) -> datetime | None:
    """The first tick strictly after ``after``, in UTC.

    :param expr: a cron expression (or a parsed one).
    :param tz_name: the IANA zone the expression's wall-clock times are in.
    :param after: a timezone-aware instant.
    :returns: the tick, or ``None`` if there is none within the next 9 years.
    """
    cron = expr if isinstance(expr, Cron) else parse(expr)
    tz = zone(tz_name)
    after = after.astimezone(UTC)
    local = after.astimezone(tz).replace(tzinfo=None)
    fast = _plain_next(cron, tz, after, local)
    if fast is not None:
        return fast
    # A repeated hour maps a wall-clock time to two instants, and a gap moves some forward:
    # look from a little before, keep the earliest instant after ``after``.
    naive = _next_local(cron, local - _SHIFT)
    best: datetime | None = None
    while naive is not None:
        if best is not None and naive > best.astimezone(tz).replace(tzinfo=None) + _SHIFT:
            break
        for instant in _instants(cron, naive, tz):
            if instant > after and (best is None or instant < best):
                best = instant
        naive = _next_local(cron, naive + timedelta(minutes=1))
    return best


def _plain_next(cron: Cron, tz: ZoneInfo, after: datetime, local: datetime) -> datetime | None:
    """The next tick when no clock change is near ``after`` or at the tick (the usual case):
    the first matching wall-clock minute after ``local``, if it exists once. ``None``: use the
    full search."""
    if (after - _SHIFT).astimezone(tz).utcoffset() != (after + _SHIFT).astimezone(tz).utcoffset():
        return None
    naive = _next_local(cron, local.replace(second=0, microsecond=0) + timedelta(minutes=1))
    if naive is None:
        return None
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset() or not _exists(naive, tz):
        return None
    return first.astimezone(UTC)


def ticks_between(expr: str | Cron, tz_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Every tick ``t`` with ``start < t <= end`` (UTC), in order.

    :param expr: a cron expression.
    :param tz_name: its time zone.
    :param start: exclusive lower bound.
    :param end: inclusive upper bound.
    """
    out: list[datetime] = []
    t = next_after(expr, tz_name, start)
    while t is not None and t <= end:
        out.append(t)
        t = next_after(expr, tz_name, t)
    return out


# The plain reading lives in its own module; ``cron.describe`` stays its public name.
from ._cron_words import describe  # noqa: E402

__all__ = ["Cron", "describe", "next_after", "parse", "ticks_between", "zone"]
