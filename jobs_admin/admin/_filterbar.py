"""The list's filter bar: the default created-at range, the phase values of the status filter,
and the chips that name each active filter (shown when the bar is collapsed)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import request

from ..i18n import gettext
from ._base import ViewBase, clip
from ._list import _FILTER_ARG
from .filters import (
    PRESETS,
    CreatedBetweenFilter,
    CreatedWithinFilter,
    phase_label,
    phase_value,
    split_status,
)


@dataclass(frozen=True)
class Chip:
    """One active filter as the collapsed bar shows it.

    :param label: what it filters ("Status: Failed").
    :param remove_url: the list without it, or ``None`` when it cannot be removed.
    :param title: what removing it does (the remove link's title).
    """

    label: str
    remove_url: str | None
    title: str


class FilterBarMixin(ViewBase):
    """The default range (``JOBS_ADMIN_DEFAULT_RANGE``), the status filter's phase values and
    the chips of the active filters."""

    _status_filter: Any

    # -- the default range -----------------------------------------------------------------

    def default_range(self) -> str:
        """The created-at preset the list applies when the URL picks no range."""
        return self.jobs.settings().default_range

    def _picks_range(self, filters: Any) -> bool:
        """Whether the list's ``filters`` (Flask-Admin's valid ones) include a created range."""
        ranges = (CreatedWithinFilter, CreatedBetweenFilter)
        return any(isinstance(self._filters[idx], ranges) for idx, _n, _v in filters or ())

    def default_applies(self, filters: Any) -> bool:
        """Whether the default range narrows this list (no range was picked, and the default
        is not "all")."""
        return self.default_range() != "all" and not self._picks_range(filters)

    def _filtered(self, search: str | None, filters: Any) -> Any:
        query = super()._filtered(search, filters)
        if self.default_applies(filters):
            within = next(f for f in self._filters if isinstance(f, CreatedWithinFilter))
            query = within.apply(query, self.default_range())
        return query

    def default_in_force(self) -> bool:
        """Whether the default range narrows this request's list (read from its URL, as
        :meth:`default_applies` reads the parsed filters)."""
        return (
            self.default_range() != "all"
            and self.active_filter("created_within") is None
            and self.active_filter("created_between") is None
        )

    def active_range(self) -> str | None:
        """The preset the list shows now: the one picked, else the default (``None``: a
        custom from/to range was picked)."""
        picked = self.active_filter("created_within")
        if picked is not None:
            return picked
        if self.active_filter("created_between") is not None:
            return None
        return self.default_range()

    def range_url(self, value: str) -> str:
        """The list with the preset ``value`` (the default preset: no range in the URL); a
        custom from/to range gives way to it."""
        default = value == self.default_range()
        url: str = self.filter_url("created_within", None if default else value)
        return self._without(url, "created_between")

    # -- the status filter's phases ----------------------------------------------------------

    def phase_options(self) -> list[tuple[str, str]]:
        """ "Running: <phase>" values of the status filter, from the running jobs' phases."""
        condition, _host = self._visibility()
        phases = self.jobs.store.running_phases(self.jobs.db.session, condition)
        return [(phase_value(p), phase_label(p)) for p in phases]

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes): its
    # groups are made once, at start (each item a dict with "arg" and "options"); the status
    # group gains this request's running phases.
    def _get_filter_groups(self) -> Any:
        groups = super()._get_filter_groups()
        if not groups:
            return groups
        groups = copy.deepcopy(groups)
        arg = self.get_filter_arg(self._filters.index(self._status_filter), self._status_filter)
        for items in groups.values():
            for item in items:
                if item.get("arg") == arg and item.get("options"):
                    item["options"] = [*item["options"], *self.phase_options()]
        return groups

    def status_tile(self) -> str | None:
        """The status whose KPI tile the status filter selects (a phase value: its status)."""
        value = self.active_filter("status_equals")
        return split_status(value)[0] if value else None

    # -- chips -----------------------------------------------------------------------------

    def chips(self) -> list[Chip]:
        """The active filters, search and range, each with the list's URL without it."""
        found: list[Chip] = []
        here = request.full_path
        for key, value in request.args.items(multi=True):
            m = _FILTER_ARG.match(key)
            if not m or m.group("name") not in (self._filter_args or {}):
                continue
            _idx, flt = (self._filter_args or {})[m.group("name")]
            if not flt.validate(value):
                continue
            label = f"{flt.name}: {self._shown(flt, value)}"
            said = gettext("Remove the filter %(label)s", label=label)
            found.append(Chip(label, self._without(here, key), said))
        search = request.args.get("search")
        if search:
            label = gettext("Search: %(text)s", text=clip(search))
            found.append(Chip(label, self._without(here, "search"), gettext("Clear the search")))
        if self.default_in_force():
            label = gettext("Created: %(range)s (default)", range=PRESETS[self.default_range()][0])
            said = gettext("Show jobs of all time")
            found.append(Chip(label, self.filter_url("created_within", "all"), said))
        return found

    def _shown(self, flt: Any, value: str) -> str:
        """How a chip names a filter's value (an option's label, else the value)."""
        if flt is self._status_filter:
            status, phase = split_status(value)
            return phase_label(phase, status) if phase else status.title()
        for key, label in flt.get_options(self) or ():
            if str(key) == value:
                return str(label)
        return clip(value)

    def _without(self, url: str, name: str) -> str:
        """``url`` (this list's) without its ``name`` argument, a filter's full key or its
        name (``created_between``), and without ``page``."""
        path, _, query = url.partition("?")
        args = [
            (k, v)
            for k, v in parse_qsl(query, keep_blank_values=True)
            if k != "page"
            and k != name
            and not ((m := _FILTER_ARG.match(k)) and m.group("name") == name)
        ]
        rest = urlencode(args)
        return path + (f"?{rest}" if rest else "")
