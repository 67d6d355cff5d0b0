"""Streamed CSV export of jobs, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

#: Columns of the export, in order: (header, attribute or computed name).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Type", "type"),
    ("Status", "status"),
    ("Created", "created_at"),
    ("Started", "started_at"),
    ("Finished", "finished_at"),
    ("Duration (s)", "duration"),
    ("Created by", "created_by"),
    ("Reference", "reference"),
    ("Error", "error"),
)

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP CSV injection).
# The full-width forms of = + - @ are read as formulas by spreadsheets set up for East Asian
# input; "|" starts a DDE call in some.
_FORMULA_START = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "|",
    "\uff1d",  # FULLWIDTH EQUALS SIGN
    "\uff0b",  # FULLWIDTH PLUS SIGN
    "\uff0d",  # FULLWIDTH HYPHEN-MINUS
    "\uff20",  # FULLWIDTH COMMERCIAL AT
    "\uff5c",  # FULLWIDTH VERTICAL LINE
)
# What an import may trim before it looks (LibreOffice's "trim spaces", a BOM): every Unicode
# space (figure, ideographic, thin...) and the zero-width characters.
_PADDING = (
    " ",
    "\u00a0",
    "\u1680",
    *(chr(c) for c in range(0x2000, 0x200B)),  # EN QUAD to HAIR SPACE, FIGURE SPACE among them
    "\u202f",
    "\u205f",
    "\u3000",  # IDEOGRAPHIC SPACE
    "\u200b",  # ZERO WIDTH SPACE
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
)
_PADDING_CHARS = "".join(_PADDING)


def _is_formula(text: str) -> bool:
    if text.startswith(_PADDING):
        text = text.lstrip(_PADDING_CHARS)
    return text.startswith(_FORMULA_START)


def neutralise(value: Any) -> str:
    """Render one cell as text that no spreadsheet evaluates as a formula.

    :param value: the cell's value (``None`` becomes empty; datetimes ISO 8601 UTC).
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return "'" + text if _is_formula(text) else text


#: The last line of an export that a database error cut short.
INCOMPLETE = "# EXPORT INCOMPLETE: an error stopped it here; export again"

#: Rows per chunk of the streamed body. One chunk per row made the export a generator step,
#: a ``StringIO`` flush and (behind a real server) a socket write per row.
CHUNK_ROWS = 500


def _text(value: Any) -> str:
    # ``neutralise`` for a column that holds text or numbers, never datetimes or floats.
    if value is None:
        return ""
    text = str(value)
    return "'" + text if _is_formula(text) else text


def _time(value: datetime | None) -> str:
    # ISO 8601 starts with a digit: never a formula.
    return "" if value is None else value.isoformat(timespec="seconds")


#: The attributes a row is read by, in one C-level call; :func:`_cells` follows this order.
_READ = operator.attrgetter(
    "id",
    "name",
    "type",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "created_by",
    "reference",
    "error",
)


def _cells(row: Any) -> list[str]:
    """One row's cells in :data:`COLUMNS` order, each as :func:`neutralise` renders it."""
    job_id, name, job_type, status, created, started, finished, by, ref, error = _READ(row)
    duration = ""
    if started is not None and finished is not None:
        duration = f"{max(0.0, (finished - started).total_seconds()):.3f}"
    return [
        str(job_id),
        _text(name),
        _text(job_type),
        _text(status),
        _time(created),
        _time(started),
        _time(finished),
        duration,
        _text(by),
        _text(ref),
        _text(error),
    ]


def stream_csv(rows: Iterable[Any], chunk_rows: int = CHUNK_ROWS) -> Iterator[str]:
    """Yield the CSV text of ``rows``: the header at once, then ``chunk_rows`` rows at a time.

    Memory stays constant: one chunk of text is held at a time.

    :param rows: objects with the job attributes named in :data:`COLUMNS`.
    :param chunk_rows: rows per yielded chunk.
    """
    return stream_cells([header for header, _ in COLUMNS], map(_cells, rows), chunk_rows)


def stream_cells(
    header: list[str], cells: Iterable[list[str]], chunk_rows: int = CHUNK_ROWS
) -> Iterator[str]:
    """Yield CSV text: ``header`` at once, then the rows of ``cells`` ``chunk_rows`` at a time.

    :param header: the header row.
    :param cells: each row's cells, already rendered (and formula-guarded) as text.
    :param chunk_rows: rows per yielded chunk.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield flush()
    batch: list[list[str]] = []
    try:
        for row in cells:
            batch.append(row)
            if len(batch) >= chunk_rows:
                writer.writerows(batch)
                batch.clear()
                yield flush()
    except Exception:
        # What was sent cannot be taken back, and a file cut at a row boundary looks whole:
        # end it with a line that says otherwise, then let the server abort the response.
        writer.writerows(batch)
        writer.writerow([INCOMPLETE])
        yield flush()
        raise
    if batch:
        writer.writerows(batch)
        yield flush()


#: Rows the database sends at a time (a server-side cursor on PostgreSQL).
FETCH_ROWS = 1000


class Limited:
    """An export's body that gives its place back (``release``) when the server closes it.

    The server calls :meth:`close` when the body was sent, failed or was cut short, and also
    when it was never iterated (a generator's own ``finally`` would not run then).

    :param body: the body's chunks.
    :param release: what gives the export's place back; called once.
    """

    def __init__(self, body: Iterator[str], release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[str]:
        return self._body

    def close(self) -> None:
        """Close the body (its connection goes back) and give the place back."""
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def export_body(engine: sa.Engine, statement: sa.Select[Any]) -> Iterator[str]:
    """The streamed CSV of ``statement``'s rows, read on a connection of its own.

    The body is sent after the view returned and its request's session was closed, so it
    cannot borrow that session: it checks out a connection at its first chunk and gives it
    back when the body ends, fails, or is closed early (a cancelled download). A body that is
    never iterated checks out nothing.

    :param engine: the engine the jobs tables live on.
    :param statement: the export's query (:data:`COLUMNS` order is taken by attribute name).
    """
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=FETCH_ROWS).execute(statement)
        try:
            yield from stream_csv(rows)
        finally:
            rows.close()
