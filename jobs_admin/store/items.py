"""The store's recorded items: written in batches with a job's progress, read a page at a time.

A job of a ``record_items=True`` type reports each item through ``ctx.item_done`` or
``ctx.item_failed``; the context buffers them as events of kind :data:`ITEM_EVENT` and the
progress flush hands them to :meth:`ItemStore.add_events`, which puts them in
``jobs_admin_job_item`` with one multi-row insert per flush.

Pages are read by keyset on ``seq`` (the run's own numbering) through the table's one index,
``(job_id, attempt, outcome, seq)``: a page of one outcome is one index range; a page of both is
one range per outcome, merged here. No read counts or skips rows, so page 1 and page 20,000 of
a job with a million items cost the same.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..models import ITEM_EVENT, ItemOutcome, utcnow
from ..registry import storable
from .base import Conn, StoreBase

#: Every outcome, in the order a page of all outcomes reads them.
OUTCOMES = (ItemOutcome.OK.value, ItemOutcome.FAILED.value)


@dataclass
class ItemPage:
    """One page of a job's recorded items, oldest first.

    :param rows: the items (rows with ``seq``, ``key``, ``outcome``, ``message``, ``step``,
        ``at``).
    :param newer: whether items follow the page (in the range asked for).
    :param older: whether items come before it.
    """

    rows: list[Any] = field(default_factory=list)
    newer: bool = False
    older: bool = False

    @property
    def first(self) -> int | None:
        """The ``seq`` of the page's first item."""
        return self.rows[0].seq if self.rows else None

    @property
    def last(self) -> int | None:
        """The ``seq`` of the page's last item."""
        return self.rows[-1].seq if self.rows else None


__all__ = ["ITEM_EVENT", "OUTCOMES", "ItemPage", "ItemStore", "item_event"]


def item_event(
    attempt: int, seq: int, key: Any, outcome: ItemOutcome, message: str | None, step: str | None
) -> dict[str, Any]:
    """The buffered event of one recorded item, as :meth:`ItemStore.add_events` writes it.

    :param attempt: the run it belongs to.
    :param seq: its number in the run.
    :param key: what identifies it (cut to 500 characters).
    :param outcome: ok or failed.
    :param message: a note or the error (cut to 2,000 characters).
    :param step: the step it was handled in.
    """
    return {
        "kind": ITEM_EVENT,
        "attempt": attempt,
        "seq": seq,
        "key": storable(str(key)[:500]),
        "outcome": outcome.value,
        "message": None if message is None else storable(str(message)[:2000]),
        "step": None if step is None else storable(step[:200]),
        "at": utcnow(),
    }


class ItemStore(StoreBase):
    """Writes and reads of ``jobs_admin_job_item`` (portable: written once)."""

    @property
    def items(self) -> sa.Table:
        """The items table."""
        table: sa.Table = self.models.JobItem.__table__
        return table

    def add_events(self, conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
        """Insert event rows; those of kind :data:`ITEM_EVENT` go to the items table, in one
        multi-row insert (see :meth:`~.base.StoreBase.add_events` for the others)."""
        items = [r for r in rows if r["kind"] == ITEM_EVENT]
        if not items:
            super().add_events(conn, rows)
            return
        super().add_events(conn, [r for r in rows if r["kind"] != ITEM_EVENT])
        now = utcnow()
        conn.execute(
            sa.insert(self.items),
            [
                {
                    "job_id": r["job_id"],
                    "attempt": r["attempt"],
                    "seq": r["seq"],
                    "key": r["key"],
                    "outcome": r["outcome"],
                    "message": r.get("message"),
                    "step": r.get("step"),
                    "at": r.get("at", now),
                }
                for r in items
            ],
        )

    def item_page(
        self,
        conn: Conn,
        job_id: int,
        attempt: int,
        *,
        outcome: str | None = None,
        after: int | None = None,
        before: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        limit: int = 50,
    ) -> ItemPage:
        """A page of the job's items of ``attempt``, by keyset on ``seq``.

        :param outcome: ``"ok"`` or ``"failed"`` for one outcome only; ``None`` for both.
        :param after: the page starts after this ``seq`` (the "next page" link).
        :param before: the page ends before this ``seq`` (the "previous page" link); wins
            over ``after``.
        :param start: only items from this ``seq`` on (a step's first item).
        :param stop: only items before this ``seq`` (the next step's first item).
        :param limit: the most items on the page.
        """
        outcomes = OUTCOMES if outcome is None else (outcome,)
        backwards = before is not None
        i = self.items.c
        low = start or 0
        if after is not None and not backwards:
            low = max(low, after + 1)
        high = stop
        if before is not None:
            high = before if stop is None else min(before, stop)
        streams = []
        for value in outcomes:
            where = [i.job_id == job_id, i.attempt == attempt, i.outcome == value, i.seq >= low]
            if high is not None:
                where.append(i.seq < high)
            stmt = sa.select(i.seq, i.key, i.outcome, i.message, i.step, i.at).where(*where)
            stmt = stmt.order_by(i.seq.desc() if backwards else i.seq).limit(limit + 1)
            streams.append(list(conn.execute(stmt)))
        merged = list(
            heapq.merge(*streams, key=lambda r: r.seq, reverse=backwards)
            if len(streams) > 1
            else streams[0]
        )
        more = len(merged) > limit
        rows = merged[:limit]
        if backwards:
            rows.reverse()
            return ItemPage(rows, newer=True, older=more)
        return ItemPage(rows, newer=more, older=after is not None)

    def items_statement(self, job_id: int, attempt: int, outcome: str | None) -> sa.Select[Any]:
        """The items of a job's ``attempt`` in the order it reported them, for a CSV export.

        :param outcome: ``"ok"`` or ``"failed"`` for one outcome only; ``None`` for both.
        """
        i = self.items.c
        where = [i.job_id == job_id, i.attempt == attempt]
        if outcome is not None:
            where.append(i.outcome == outcome)
        return (
            sa.select(i.seq, i.key, i.outcome, i.message, i.step, i.at)
            .where(*where)
            .order_by(i.seq)
        )

    def has_items(self, conn: Conn, job_id: int) -> bool:
        """Whether the job has recorded any item, in any attempt (one index probe)."""
        i = self.items.c
        return conn.execute(sa.select(i.seq).where(i.job_id == job_id).limit(1)).first() is not None
