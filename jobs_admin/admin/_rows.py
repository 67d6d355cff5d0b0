"""What the list page's script asks the server for without reloading the page: some rows
rendered anew (their cells and buttons, after a live change of status) and how many jobs
"Clear old jobs" would delete."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_admin import expose

from .. import permissions as perms
from ..errors import InvalidArgument
from ..store import PAUSED
from . import _html
from ._base import ViewBase, local
from .forms import token_form

#: Most rows one refresh asks for (a page holds at most 250).
MAX_ROWS = 250

#: The most days "Clear old jobs" takes (the form's own limit).
MAX_DAYS = 36500


def _json(body: dict[str, Any], status: int = 200) -> Any:
    response = jsonify(body)
    response.status_code = status
    # Per user and moment: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


class RowsMixin(ViewBase):
    """``GET <view>/rows?id=N&id=M&url=<list url>`` and ``GET <view>/prune/count?days=N``."""

    def paused_reasons(self, jobs: Any) -> dict[int, str]:
        """Why each paused job among ``jobs`` is paused (its last "paused: ..." event)."""
        ids = [j.id for j in jobs if j.status == "pending" and j.phase == PAUSED]
        if not ids:
            return {}
        return self.jobs.store.pause_reasons(self.jobs.db.session, ids)

    @expose("/rows")
    def rows_view(self) -> Any:
        """Some of the list's rows rendered anew: each job's status, cells (by column) and
        buttons, as the user's permissions allow now. Jobs that are gone or that the user may
        not see are listed in ``gone``.

        ``url`` is the list page the rows are on (their links and forms come back to it).
        """
        ids: list[int] = []
        for raw in request.args.getlist("id")[:MAX_ROWS]:
            try:
                job_id = int(raw)
            except ValueError:
                return _json({"error": f"not a job id: {raw[:40]!r}"}, 400)
            if 0 < job_id < 2**63:
                ids.append(job_id)
        return_url = local(request.args.get("url")) or self.get_url(".index_view")
        found = []
        if ids:
            query = self.get_query().filter(self.model.id.in_(ids))
            found = [job for job in query if self.can(perms.VIEW, job)]
        csrf = str(token_form().csrf_token.current_token)
        rows = _html.ListRows(
            self, return_url, csrf, self._state().answers, self.paused_reasons(found)
        )
        jobs = {
            str(job.id): {
                "status": job.status,
                "phase": job.phase,
                "actions": rows.actions(job),
                "cells": rows.cells(job),
            }
            for job in found
        }
        gone = sorted(set(ids) - {job.id for job in found})
        return _json({"jobs": jobs, "gone": gone})

    @expose("/prune/count")
    def prune_count(self) -> Any:
        """How many finished jobs "Clear old jobs" with ``days`` would delete now."""
        if not self.can(perms.PRUNE):
            return _json({"error": "the 'prune' permission is needed"}, 403)
        raw = request.args.get("days", "")
        try:
            days = int(raw)
            if not 0 <= days <= MAX_DAYS:
                raise ValueError(days)
            count = self.jobs.count_prunable(days)
        except (ValueError, InvalidArgument):
            return _json({"error": f"days must be a whole number from 0 to {MAX_DAYS}"}, 400)
        return _json({"days": days, "count": count})
