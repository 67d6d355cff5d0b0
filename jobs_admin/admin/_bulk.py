"""Actions on everything the list's filter matches: ``GET <view>/bulk/count`` (the exact count
the select-all bar and the confirmation name) and ``POST <view>/bulk`` (start a
``jobs_admin.bulk`` job). Both take the list's own query arguments (its filters, search and
range) in their URL, so they read the filter as the list does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, jsonify, request
from flask_admin import expose

from ..errors import InvalidArgument, PermissionDenied
from ..i18n import gettext, ngettext
from ..service import BULK_ACTIONS
from ._base import ViewBase
from ._list import _FILTER_ARG
from ._notify import started_flash
from .filters import (
    PRESETS,
    CreatedBetweenFilter,
    CreatedWithinFilter,
    ParamsFilter,
    StatusFilter,
    TypeFilter,
    UserFilter,
)
from .forms import token_form

#: What the confirmation calls each action.
VERBS = {"retry": "Retry", "cancel": "Cancel", "delete": "Delete", "export": "Export"}


def _started(action: str, count: int, words: str) -> str:
    """The flash of a started bulk job, ``{job}`` where its link goes."""
    said = {
        "retry": ngettext(
            "Retry of %(num)s job matching %(filter)s started in job {job}.",
            "Retry of %(num)s jobs matching %(filter)s started in job {job}.",
            count,
            filter=words,
        ),
        "cancel": ngettext(
            "Cancel of %(num)s job matching %(filter)s started in job {job}.",
            "Cancel of %(num)s jobs matching %(filter)s started in job {job}.",
            count,
            filter=words,
        ),
        "delete": ngettext(
            "Delete of %(num)s job matching %(filter)s started in job {job}.",
            "Delete of %(num)s jobs matching %(filter)s started in job {job}.",
            count,
            filter=words,
        ),
        "export": ngettext(
            "Export of %(num)s job matching %(filter)s started in job {job}.",
            "Export of %(num)s jobs matching %(filter)s started in job {job}.",
            count,
            filter=words,
        ),
    }
    return said[action]


def _since(preset: str) -> str | None:
    """The start of a created-at preset now, in ISO 8601 (``None``: all time)."""
    days = PRESETS[preset][1]
    if days is None:
        return None
    now = dt.datetime.now(dt.UTC)
    start = (
        now.replace(hour=0, minute=0, second=0, microsecond=0)
        if days == 0
        else now - dt.timedelta(days=days)
    )
    return start.isoformat()


class BulkMixin(ViewBase):
    """The list's "Select all N jobs matching this filter" and what it starts."""

    _filter_args: Any
    _filters: Any

    def chips(self) -> list[Any]:
        """The active filters' chips (see ``_filterbar``)."""
        return []

    def default_in_force(self) -> bool:
        """Whether the default range narrows the list (see ``_filterbar``)."""
        return False

    def default_range(self) -> str:
        """The default created-at preset (see ``_filterbar``)."""
        return "all"

    def stored_filter(self) -> dict[str, Any]:
        """The list's filter in this request's URL, frozen for a ``jobs_admin.bulk`` job:
        ``{"filters": [[kind, value], ...], "search": text}`` (a preset range becomes the time
        it starts now).

        :raises InvalidArgument: a filter argument the list would ignore (a bulk action must
            never act on more than the list shows), or a search term that does not parse.
        """
        pairs: list[list[str]] = []
        kinds = {StatusFilter: "status", TypeFilter: "type", UserFilter: "created_by"}
        for key, value in request.args.items(multi=True):
            m = _FILTER_ARG.match(key)
            if not m:
                continue
            found = (self._filter_args or {}).get(m.group("name"))
            if found is None or not found[1].validate(value):
                raise InvalidArgument(f"the filter {key[:40]!r} has a value the list ignores")
            flt = found[1]
            if type(flt) in kinds:
                pairs.append([kinds[type(flt)], value])
            elif isinstance(flt, CreatedWithinFilter):
                since = _since(value)
                if since:
                    pairs.append(["created_after", since])
            elif isinstance(flt, CreatedBetweenFilter):
                start, end = flt.clean(value)
                pairs += [["created_after", start.isoformat()], ["created_before", end.isoformat()]]
            elif isinstance(flt, ParamsFilter):
                pairs.append(["params", value])
            else:
                raise InvalidArgument(f"the filter {key[:40]!r} cannot be used for a bulk action")
        if self.default_in_force():
            since = _since(self.default_range())
            if since:
                pairs.append(["created_after", since])
        search = request.args.get("search") or None
        if search:
            self.jobs.store.search_clauses(self.jobs.db.session, search)  # checks it
        return {"filters": pairs, "search": search}

    def bulk_actions_allowed(self) -> list[str]:
        """The bulk actions the user may start (each needs its own permission)."""
        return [name for name, permission in BULK_ACTIONS.items() if self.can(permission)]

    def filter_words(self) -> str:
        """The list's filter in words, as its chips name it ("Status: Failed, Type: Import")."""
        labels = [chip.label for chip in self.chips()]
        return ", ".join(labels) if labels else gettext("all jobs")

    @expose("/bulk/count")
    def bulk_count(self) -> Any:
        """``{"count": N, "max_id": M, "filter": words}`` of the list's filter in the URL."""
        try:
            count, top = self.jobs.count_matching(self.stored_filter(), user=self.user)
        except InvalidArgument as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"count": count, "max_id": top, "filter": self.filter_words()})

    @expose("/bulk", methods=("POST",))
    def bulk(self) -> Any:
        """Start a ``jobs_admin.bulk`` job: form ``action`` and ``max_id`` (the newest id the
        confirmation counted), the list's filter in the URL."""
        action = request.form.get("action", "")
        if not token_form(request.form).validate():
            flash(
                gettext(
                    "The form expired or lacks its CSRF token; nothing was changed. Try again."
                ),
                "error",
            )
            return self._back()
        if action not in BULK_ACTIONS:
            flash(gettext("Unknown bulk action; nothing was changed."), "error")
            return self._back()
        permission = BULK_ACTIONS[action]
        if not self.jobs.can(permission):
            flash(
                gettext(
                    "You do not have the %(permission)r permission; nothing was changed.",
                    permission=permission,
                ),
                "error",
            )
            return self._back()
        raw = request.form.get("max_id", "")
        max_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
        try:
            flt = self.stored_filter()
            words = self.filter_words()
            job, count = self.jobs.bulk(
                action,
                flt,
                user=self.user,
                max_id=max_id,
                name=f"{VERBS[action]} jobs matching {words}"[:200],
            )
        except (InvalidArgument, PermissionDenied) as exc:
            self.jobs.db.session.rollback()
            message = exc.translated()
            flash(
                gettext("%(error)s; nothing was changed.", error=message[:1].upper() + message[1:]),
                "error",
            )
            return self._back()
        text = _started(action, count, words)
        flash(started_flash(self, job, text), "success")
        return self._back()
