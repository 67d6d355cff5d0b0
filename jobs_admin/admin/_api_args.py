"""The JSON API's query arguments: parsed, checked, and refused with a message naming them."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument
from ..models import JobStatus
from ..store.params import split_search

#: Rows one ``api/jobs`` answer holds at most, and by default.
MAX_LIMIT = 200
DEFAULT_LIMIT = 25

#: Longest text a filter value may have (the columns hold 200 characters).
MAX_TEXT = 200

#: The arguments ``api/jobs`` knows; others are refused (a typo must not widen the answer).
KNOWN = frozenset(
    {
        "status",
        "type",
        "created_by",
        "reference",
        "created_after",
        "created_before",
        "search",
        "limit",
        "cursor",
    }
)

_STATUSES = frozenset(s.value for s in JobStatus)


class BadArgument(ValueError):
    """A query argument the API refuses (400).

    :param name: the argument's name.
    :param message: what is wrong with it.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass
class ListArgs:
    """What ``api/jobs`` was asked for."""

    statuses: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    created_by: str | None = None
    #: jobs of any of these references (the API takes one; a panel may show several)
    references: list[str] = field(default_factory=list)
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    search: str | None = None
    limit: int = DEFAULT_LIMIT
    #: (created_at, id) of the last job of the previous page
    cursor: tuple[dt.datetime, int] | None = None


def _text(name: str, value: str) -> str:
    if "\x00" in value:
        raise BadArgument(name, "contains a NUL character")
    if len(value) > MAX_TEXT:
        raise BadArgument(name, f"longer than {MAX_TEXT} characters")
    return value


def _listed(values: Iterable[str]) -> list[str]:
    """Repeated and comma-separated values, flattened (``status=failed,partial``)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_time(name: str, value: str) -> dt.datetime:
    """An ISO 8601 date or date-time; one without a zone is UTC.

    :raises BadArgument: not such a value.
    """
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadArgument(name, "not an ISO 8601 date or date-time") from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def encode_cursor(created_at: dt.datetime, job_id: int) -> str:
    """The opaque cursor of the page after the job ``(created_at, job_id)``."""
    raw = json.dumps([created_at.astimezone(dt.UTC).isoformat(), int(job_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[dt.datetime, int]:
    """What :func:`encode_cursor` made.

    :raises BadArgument: anything else.
    """
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        when, job_id = json.loads(raw)
        if not isinstance(job_id, int) or isinstance(job_id, bool) or not 0 < job_id < 2**63:
            raise ValueError(job_id)
        return parse_time("cursor", str(when)), job_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, BadArgument):
        raise BadArgument("cursor", "not a cursor this API returned") from None


def parse_list_args(args: Mapping[str, Any], types: Iterable[str]) -> ListArgs:
    """Check the query arguments of ``api/jobs``.

    :param args: the request's arguments (a ``MultiDict``).
    :param types: the registered job type names.
    :raises BadArgument: the first argument that is wrong.
    """
    for name in args:
        if name not in KNOWN and not name.startswith("_"):
            raise BadArgument(name, "unknown argument")
    out = ListArgs()
    getlist = args.getlist  # type: ignore[attr-defined]
    for status in _listed(getlist("status")):
        if status not in _STATUSES:
            shown = status[:20]
            raise BadArgument("status", f"{shown!r} is not one of {', '.join(sorted(_STATUSES))}")
        out.statuses.append(status)
    known_types = set(types)
    for name in _listed(getlist("type")):
        if name not in known_types:
            raise BadArgument("type", f"{_text('type', name)[:40]!r} is not a registered job type")
        out.types.append(name)
    for key in ("created_by", "search"):
        value = args.get(key)
        if value:
            setattr(out, key, _text(key, value))
    if out.search:
        try:
            split_search(out.search)
        except InvalidArgument as exc:
            raise BadArgument("search", str(exc)) from None
    reference = args.get("reference")
    if reference:
        out.references = [_text("reference", reference)]
    for key in ("created_after", "created_before"):
        value = args.get(key)
        if value:
            setattr(out, key, parse_time(key, _text(key, value)))
    limit = args.get("limit")
    if limit:
        try:
            out.limit = int(limit)
        except ValueError:
            raise BadArgument("limit", "not a whole number") from None
        if not 1 <= out.limit <= MAX_LIMIT:
            raise BadArgument("limit", f"must be between 1 and {MAX_LIMIT}")
    cursor = args.get("cursor")
    if cursor:
        out.cursor = decode_cursor(_text("cursor", cursor))
    return out
