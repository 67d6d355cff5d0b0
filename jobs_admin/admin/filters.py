"""List filters of the jobs view (URLs stay stable: ``named_filter_urls``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask_admin.contrib.sqla import filters as sqla_filters

from ..errors import InvalidArgument
from ..i18n import STATUS_LABELS, lazy_gettext, status_label
from ..models import JobStatus
from ..store.params import ParamsTerm, parse_term

#: Date-range presets: URL value -> (label, days back; 0 = since midnight UTC, None = all).
PRESETS: dict[str, tuple[Any, int | None]] = {
    "today": (lazy_gettext("Today"), 0),
    "7d": (lazy_gettext("Last 7 days"), 7),
    "30d": (lazy_gettext("Last 30 days"), 30),
    "all": (lazy_gettext("All"), None),
}


class ChoiceFilter(sqla_filters.FilterEqual):
    """Equality against one of a fixed set of options; any other value is refused."""

    def validate(self, value: str) -> bool:
        return value in {str(k) for k, _ in (self.get_options(None) or [])}


#: Separates a status from a phase in a status filter value (``running:Building pages``).
PHASE_SEP = ":"


def phase_value(phase: str, status: str = "running") -> str:
    """The status filter's value for jobs of ``status`` in ``phase``."""
    return f"{status}{PHASE_SEP}{phase}"


def phase_label(phase: str, status: str = "running") -> str:
    """How the status filter names such a value ("Running: Building pages")."""
    return f"{status_label(status)}: {phase}"


def split_status(value: str) -> tuple[str, str | None]:
    """(status, phase or ``None``) of a status filter value."""
    status, sep, phase = value.partition(PHASE_SEP)
    return (status, phase) if sep else (value, None)


class StatusFilter(ChoiceFilter):
    """Filter by status (``flt0_status_equals=failed``), or by status and phase
    (``flt0_status_equals=running:Building pages``: the running jobs in that phase)."""

    def __init__(self, column: Any, phase: Any = None) -> None:
        super().__init__(
            column,
            lazy_gettext("Status"),
            options=[(s.value, STATUS_LABELS[s.value]) for s in JobStatus],
        )
        self.phase = phase

    def validate(self, value: str) -> bool:
        status, phase = split_status(value)
        if phase is None:
            return super().validate(value)
        # Any phase, not only the ones running now: a link to a phase that has ended lists
        # no jobs rather than being refused. No NUL: PostgreSQL refuses it in text.
        return (
            self.phase is not None
            and status in {s.value for s in JobStatus}
            and 0 < len(phase) <= 200
            and "\x00" not in phase
        )

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        status, phase = split_status(value)
        query = query.filter(self.get_column(alias) == status)
        return query if phase is None else query.filter(self.phase == phase)


class TypeFilter(ChoiceFilter):
    """Filter by job type (``flt0_type_equals=catalog.export``); options are the registry's."""

    def __init__(self, column: Any, options: Callable[[], list[tuple[str, str]]]) -> None:
        super().__init__(column, lazy_gettext("Type"), options=options)


class UserFilter(sqla_filters.FilterEqual):
    """Filter by creator (``flt0_created_by_equals=operator``)."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, lazy_gettext("Created by"))

    def validate(self, value: str) -> bool:
        # No NUL: PostgreSQL refuses it in text, so the list would fail instead of match none.
        return 0 < len(value) <= 200 and "\x00" not in value


class ScheduleFilter(sqla_filters.FilterEqual):
    """The jobs a schedule fired (``flt0_schedule_equals=3``): the Schedules page's "All its
    jobs" link."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, lazy_gettext("Schedule"))

    def validate(self, value: str) -> bool:
        return value.isascii() and value.isdigit() and int(value) < 2**63

    def clean(self, value: str) -> int:
        return int(value)


class CreatedWithinFilter(sqla_filters.BaseSQLAFilter):
    """Date-range presets on ``created_at``: Today, 7 days, 30 days, All."""

    def __init__(self, column: Any) -> None:
        super().__init__(
            column, lazy_gettext("Created"), options=[(k, v[0]) for k, v in PRESETS.items()]
        )

    def validate(self, value: str) -> bool:
        return value in PRESETS

    def operation(self) -> Any:
        return lazy_gettext("within")

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        days = PRESETS[value][1]
        if days is None:
            return query
        now = dt.datetime.now(dt.UTC)
        start = (
            now.replace(hour=0, minute=0, second=0, microsecond=0)
            if days == 0
            else now - dt.timedelta(days=days)
        )
        return query.filter(self.get_column(alias) >= start)


class CreatedBetweenFilter(sqla_filters.DateBetweenFilter):
    """A custom from/to range of days (UTC) on ``created_at``, both days included."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, lazy_gettext("Created"))

    def validate(self, value: str) -> bool:
        # Flask-Admin's check, then ours: a range that passes it must also be usable (not
        # ending on 9999-12-31, whose next day does not exist).
        if not super().validate(value):
            return False
        try:
            self.clean(value)
        except (ValueError, OverflowError):
            return False
        return True

    def clean(self, value: str) -> list[dt.datetime]:
        # The format Flask-Admin validates (``2024-1-5`` too), not only ISO's zero-padded one.
        start, end = (dt.datetime.strptime(part, "%Y-%m-%d").date() for part in value.split(" to "))
        return [
            dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC),
        ]

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        start, end = value
        column = self.get_column(alias)
        return query.filter(column >= start, column < end)


class ParamsFilter(sqla_filters.BaseSQLAFilter):
    """Jobs whose params hold a value (``flt0_params_equals=customer.id:4711``): what a
    ``params.customer.id:4711`` term of the search box matches (see
    :mod:`jobs_admin.store.params`)."""

    def __init__(self, column: Any, clause: Callable[[ParamsTerm], Any]) -> None:
        super().__init__(column, lazy_gettext("Params"))
        self._clause = clause

    def operation(self) -> str:
        return "equals"

    def validate(self, value: str) -> bool:
        try:
            parse_term(value)
        except InvalidArgument:
            return False
        return True

    def clean(self, value: str) -> ParamsTerm:
        return parse_term(value)

    def apply(self, query: Any, value: ParamsTerm, alias: Any = None) -> Any:
        return query.filter(self._clause(value))


class FinishedBetweenFilter(sqla_filters.BaseSQLAFilter):
    """Jobs that finished in ``<start>-<end>`` (Unix seconds, end excluded): where a point of
    the Insights charts links to."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, lazy_gettext("Finished"))

    def validate(self, value: str) -> bool:
        start, dash, end = value.partition("-")
        return bool(dash) and start.isdigit() and end.isdigit() and int(start) < int(end) < 2**40

    def clean(self, value: str) -> list[dt.datetime]:
        return [dt.datetime.fromtimestamp(int(part), dt.UTC) for part in value.split("-")]

    def operation(self) -> str:
        return "between"

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        start, end = value
        column = self.get_column(alias)
        return query.filter(column >= start, column < end)
