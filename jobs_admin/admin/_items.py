"""The detail page's Items table (paged by keyset, filtered by outcome) and its CSV export.

A job of a ``record_items=True`` type lists every item it handled; the page shows one page of
its last attempt's items at a time (``items_after`` / ``items_before`` carry the keyset, never
an offset) and ``<view>/<id>/items.csv`` streams them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Response, flash, request
from flask_admin import expose

from .. import permissions as perms
from ..export import CHUNK_ROWS, FETCH_ROWS, Limited, neutralise, stream_cells
from ..i18n import gettext, lazy_gettext
from ..models import ItemOutcome
from ..store.items import ItemPage
from ._base import ViewBase

if TYPE_CHECKING:
    from ..extension import JobsAdmin

#: Items per page of the detail page's Items table.
ITEMS_PER_PAGE = 25

#: The outcome filter's values (query argument ``items``) and their labels.
OUTCOME_FILTERS = {
    "all": lazy_gettext("All"),
    ItemOutcome.OK.value: lazy_gettext("OK"),
    ItemOutcome.FAILED.value: lazy_gettext("Failed"),
}

#: Header of the items CSV, in column order.
CSV_HEADER = (
    "#",
    lazy_gettext("Item"),
    lazy_gettext("Outcome"),
    lazy_gettext("Message"),
    lazy_gettext("Step"),
    lazy_gettext("At"),
)


@dataclass
class ItemsTable:
    """What the detail page's Items card shows.

    :param page: the rows and whether pages come before and after.
    :param outcome: the filter shown (``"all"``, ``"ok"`` or ``"failed"``).
    """

    page: ItemPage
    outcome: str


def _int_arg(name: str) -> int | None:
    """A non-negative integer query argument, or ``None`` when absent or not one."""
    value = request.args.get(name, "")
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def outcome_arg() -> str:
    """The ``items`` filter of this request; anything unknown shows all."""
    value = request.args.get("items", "all")
    return value if value in OUTCOME_FILTERS else "all"


def read_items(jobs: JobsAdmin, job: Any) -> ItemsTable:
    """The page of ``job``'s items this request asks for (its last attempt's).

    :param jobs: the extension.
    :param job: the job shown.
    """
    outcome = outcome_arg()
    page = jobs.store.item_page(
        jobs.db.session.connection(),
        job.id,
        job.attempts or 0,
        outcome=None if outcome == "all" else outcome,
        after=_int_arg("items_after"),
        before=_int_arg("items_before"),
        limit=ITEMS_PER_PAGE,
    )
    return ItemsTable(page, outcome)


def step_items(jobs: JobsAdmin, job: Any, start: int, stop: int | None, limit: int) -> ItemPage:
    """The first ``limit`` items of one step: those numbered from ``start`` up to ``stop``.

    :param jobs: the extension.
    :param job: the job.
    :param start: the step's first item number.
    :param stop: the next step's first item number (``None``: the last step).
    :param limit: how many items to read.
    """
    return jobs.store.item_page(
        jobs.db.session.connection(),
        job.id,
        job.attempts or 0,
        start=start,
        stop=stop,
        limit=limit,
    )


def stream_items(rows: Any) -> Iterator[str]:
    """The CSV text of item rows, formula-guarded, a chunk of rows at a time.

    :param rows: rows with ``seq``, ``key``, ``outcome``, ``message``, ``step`` and ``at``.
    """
    cells = (
        [
            str(r.seq + 1),
            neutralise(r.key),
            r.outcome,
            neutralise(r.message),
            neutralise(r.step),
            neutralise(r.at),
        ]
        for r in rows
    )
    return stream_cells([str(h) for h in CSV_HEADER], cells, CHUNK_ROWS)


def _items_body(engine: sa.Engine, statement: sa.Select[Any]) -> Iterator[str]:
    """The streamed CSV of ``statement``, on a connection of its own (see
    :func:`jobs_admin.export.export_body`, whose reasons hold here too)."""
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=FETCH_ROWS).execute(statement)
        try:
            yield from stream_items(rows)
        finally:
            rows.close()


class ItemsMixin(ViewBase):
    """``<view>/<id>/items.csv``: every recorded item of a job's last attempt, as CSV."""

    @expose("/<int:job_id>/items.csv")
    def items_csv(self, job_id: int) -> Any:
        job = self.get_one(job_id)
        if job is None:
            flash(gettext("That job does not exist or you may not see it."), "error")
            return self._back()
        if not self.jobs.can(perms.EXPORT, job):
            flash(gettext("You do not have the 'export' permission."), "error")
            return self._back()
        outcome = outcome_arg()
        statement = self.jobs.store.items_statement(
            job.id, job.attempts or 0, None if outcome == "all" else outcome
        )
        release = self.jobs.export_slot()
        if release is None:
            limit = self.jobs.settings().max_exports
            flash(
                gettext(
                    "%(num)s exports are being downloaded already; try again when one has"
                    " finished.",
                    num=limit,
                ),
                "warning",
            )
            return self._back()
        body = _items_body(self.jobs.db.session.get_bind(mapper=self.model), statement)
        suffix = "" if outcome == "all" else f"-{outcome}"
        return Response(
            Limited(body, release),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="job-{job.id}-items{suffix}.csv"'
            },
        )
