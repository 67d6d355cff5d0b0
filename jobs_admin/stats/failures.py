"""Failures grouped by cause: a failed job's error reduced to its exception class and a message
with the varying parts (numbers, ids, hex, addresses, quoted values) replaced.

The group key (:func:`group_key`) is computed in Python when a job fails and stored in the job's
``error_group`` column (a partial index over failed jobs holds it), so grouping is one indexed
``GROUP BY`` and never a regular expression over the table.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlalchemy as sa

from ..statuses import JobStatus

#: How much of a normalised message takes part in the key (long messages vary at the end).
MAX_MESSAGE = 300

_CLASS = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Timeout|Interrupt|Warning)?): ")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`"), "'…'"),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"[-+]?\b\d+(?:[.,]\d+)*\b"), "<n>"),
    (re.compile(r"\s+"), " "),
)  # fmt: skip


def normalize(error: str | None) -> tuple[str, str]:
    """``(exception class, message with its varying parts replaced)`` of a job's error.

    ``"TimeoutError: timeout after 30 s on host 10.0.0.5"`` gives
    ``("TimeoutError", "timeout after <n> s on host <ip>")``.

    :param error: the job's ``error`` (``"ExcClass: message"``, as the runner writes it).
    """
    text = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    match = _CLASS.match(text)
    if match and " " not in match.group(1):
        name, message = match.group(1), text[match.end() :]
    elif text and re.fullmatch(r"[A-Za-z_][\w.]*", text):
        name, message = text, ""
    else:
        name, message = "", text
    for pattern, repl in _RULES:
        message = pattern.sub(repl, message)
    return name, message.strip()[:MAX_MESSAGE]


def group_key(error: str | None) -> str:
    """The group of a failed job's error: 16 hex digits of a hash of :func:`normalize`'s result.

    :param error: the job's error.
    """
    name, message = normalize(error)
    return hashlib.sha1(f"{name}\n{message}".encode(), usedforsecurity=False).hexdigest()[:16]


def groups(
    conn: Any, jobs: sa.Table, *, created_by: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The failed jobs grouped by (type, group key), the most recent failure first.

    :param conn: a connection or session.
    :param jobs: the jobs table.
    :param created_by: only this user's jobs (``None``: everyone's).
    :param limit: most groups returned.
    :returns: dicts with ``type``, ``group``, ``count``, ``first_seen``, ``last_seen`` and
        ``sample`` (the id of the group's newest job).
    """
    j = jobs.c
    where = [j.status == JobStatus.FAILED.value]
    if created_by is not None:
        where.append(j.created_by == created_by)
    last = sa.func.max(j.finished_at)
    rows = conn.execute(
        sa.select(
            j.type,
            j.error_group,
            sa.func.count(),
            sa.func.min(j.finished_at),
            last,
            sa.func.max(j.id),
        )
        .where(*where)
        .group_by(j.type, j.error_group)
        .order_by(last.desc())
        .limit(limit)
    ).all()
    return [
        {
            "type": r[0],
            "group": r[1] or "",
            "count": int(r[2]),
            "first_seen": r[3],
            "last_seen": r[4],
            "sample": int(r[5]),
        }
        for r in rows
    ]


def samples(conn: Any, jobs: sa.Table, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The error and traceback of the sample jobs ``ids``.

    :param conn: a connection or session.
    :param jobs: the jobs table.
    :param ids: job ids.
    """
    if not ids:
        return {}
    j = jobs.c
    rows = conn.execute(sa.select(j.id, j.error, j.traceback).where(j.id.in_(ids)))
    return {int(r.id): {"error": r.error, "traceback": r.traceback} for r in rows}
