"""Streamed CSV export of jobs, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

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
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


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
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _duration(row: Any) -> float | None:
    if row.started_at is None:
        return None
    if row.finished_at is None:
        return None
    return max(0.0, (row.finished_at - row.started_at).total_seconds())


def stream_csv(rows: Iterable[Any]) -> Iterator[str]:
    """Yield the CSV text of ``rows`` a line at a time (constant memory).

    :param rows: objects with the job attributes named in :data:`COLUMNS`.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([header for header, _ in COLUMNS])
    yield flush()
    for row in rows:
        writer.writerow(
            [
                neutralise(_duration(row) if attr == "duration" else getattr(row, attr))
                for _, attr in COLUMNS
            ]
        )
        yield flush()
