"""The plain reading of a cron expression ("At 03:00, every day"), in the request's language."""

from __future__ import annotations

from babel import dates as babel_dates

from . import i18n
from .cron import _DAYS, _MONTHS, parse
from .errors import InvalidSchedule
from .i18n import gettext, ngettext

# -- plain English -------------------------------------------------------------------------
#
# The reading is translated: each clause is one message ("At %(times)s", "on %(weekdays)s"),
# the clauses are joined by commas, and weekday and month names come from Babel's locale data.


def _list(values: list[str]) -> str:
    if len(values) == 1:
        return values[0]
    return gettext("%(items)s and %(last)s", items=", ".join(values[:-1]), last=values[-1])


def _every(unit: str, step: int) -> str:
    """A step over a whole field: "every 2 days" (a message per unit, for the plural forms)."""
    if unit == "minute":
        return ngettext("every %(num)s minute", "every %(num)s minutes", step)
    if unit == "hour":
        return ngettext("every %(num)s hour", "every %(num)s hours", step)
    if unit == "day":
        return ngettext("every %(num)s day", "every %(num)s days", step)
    return ngettext("every %(num)s month", "every %(num)s months", step)


def _day_name(index: int) -> str:
    """The name of cron's weekday ``index`` (0 and 7 are Sunday) in the request's language."""
    names = babel_dates.get_day_names("wide", context="format", locale=i18n.locale())
    return str(names[(index - 1) % 7])  # Babel counts from Monday = 0


def _month_name(index: int) -> str:
    """The name of month ``index`` (1-12) in the request's language."""
    names = babel_dates.get_month_names("wide", context="stand-alone", locale=i18n.locale())
    return str(names[index])


def _span(text: str, unit: str, names: tuple[str, ...] | None = None) -> str:
    """A field other than the time read out: ``*/2`` -> "every 2 days", ``1-5`` -> ..."""

    def name(token: str) -> str:
        if names is None:
            return token
        token = token.lower()
        if names is _MONTHS:
            return _month_name(int(token) if token.isdigit() else names.index(token) + 1)
        return _day_name(int(token) if token.isdigit() else names.index(token))

    parts = []
    for item in text.split(","):
        span, slash, step = item.partition("/")
        if span == "*" and slash:
            parts.append(_every(unit, int(step)))
        elif "-" in span:
            a, _, b = span.partition("-")
            if slash:
                parts.append(
                    gettext(
                        "%(first)s through %(last)s every %(step)s",
                        first=name(a),
                        last=name(b),
                        step=i18n.format_number(int(step)),
                    )
                )
            else:
                parts.append(gettext("%(first)s through %(last)s", first=name(a), last=name(b)))
        elif slash:
            parts.append(
                gettext(
                    "%(start)s and every %(step)s after",
                    start=name(span),
                    step=i18n.format_number(int(step)),
                )
            )
        else:
            parts.append(name(span))
    return _list(parts)


def describe(expr: str) -> str:
    """A plain-English reading of a cron expression ("At 03:00, every day"), in the request's
    language.

    :param expr: a valid expression (an invalid one is returned as it is).
    """
    try:
        cron = parse(expr)
    except InvalidSchedule:
        return expr
    minute, hour, day, month, weekday = cron.expr.split()
    simple_min = minute.isdigit()
    hours_list = hour.split(",")
    clauses: list[str] = []
    if simple_min and all(h.isdigit() for h in hours_list):
        times = [f"{int(h):02d}:{int(minute):02d}" for h in hours_list]
        clauses.append(gettext("At %(times)s", times=_list(times)))
    elif simple_min and hour == "*":
        clauses.append(gettext("At minute %(minute)s of every hour", minute=int(minute)))
    elif minute == "*" and hour == "*":
        clauses.append(gettext("Every minute"))
    elif minute.startswith("*/") and hour == "*":
        clauses.append(ngettext("Every %(num)s minute", "Every %(num)s minutes", int(minute[2:])))
    else:
        clauses.append(gettext("At minute %(minutes)s", minutes=_span(minute, "minute")))
        if hour == "*":
            clauses.append(gettext("every hour"))
        else:
            clauses.append(gettext("hour %(hours)s", hours=_span(hour, "hour")))
    if day == "*" and weekday == "*":
        if month == "*" and not cron.wildcard:
            clauses.append(gettext("every day"))
    elif day != "*" and weekday != "*":
        clauses.append(
            gettext(
                "on day %(days)s of the month or on %(weekdays)s",
                days=_span(day, "day"),
                weekdays=_span(weekday, "day", _DAYS),
            )
        )
    elif day != "*":
        clauses.append(gettext("on day %(days)s of the month", days=_span(day, "day")))
    else:
        clauses.append(gettext("on %(weekdays)s", weekdays=_span(weekday, "day", _DAYS)))
    if month != "*":
        clauses.append(gettext("in %(months)s", months=_span(month, "month", _MONTHS)))
    return ", ".join(clauses)
