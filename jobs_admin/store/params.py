"""Search by params: ``params.KEY:VALUE`` terms, parsed and turned into SQL.

A term names a key of the job's params (nested keys joined by dots, ``params.customer.id``) and
a value that the key's JSON value must equal exactly: a string, or, when typed unquoted and
numeric (``4711``, ``-2.5``), that number or that string. A quoted value (``"ACME feed"``,
with ``\\"`` and ``\\\\`` escapes) is a string only.

On PostgreSQL a term is a ``params @> '{...}'`` containment (:func:`containment_clause`),
which the GIN index ``ix_jobs_admin_job_params`` (``jsonb_path_ops``) serves; on SQLite a
``json_extract`` comparison (:func:`json_extract_clause`, with ``json_type``, so that the string
``"4711"`` and the number ``4711`` stay apart as on PostgreSQL), read on the rows the other
conditions leave. Each store's ``params_clause`` picks its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..errors import InvalidArgument

#: What starts a params term in the search box (``params.customer.id:4711``).
PREFIX = "params."

#: A key of a params term: letters, digits, ``_`` and ``-`` (dots separate nested keys).
_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}\Z")

#: Splits the search box: a params term with a quoted value (spaces allowed in the quotes),
#: else any run of non-space characters.
_TOKEN = re.compile(r'params\.[^\s:"]*:"(?:[^"\\]|\\.)*"(?=\s|\Z)|\S+')

#: An unquoted value that is also matched as a JSON number.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?\Z")

#: Most terms one search may hold (free text and params terms together).
MAX_TERMS = 8


@dataclass(frozen=True)
class ParamsTerm:
    """One ``params.KEY:VALUE`` term.

    :param path: the keys, outermost first.
    :param value: the value as text (unquoted, escapes resolved).
    :param quoted: whether it was typed in quotes (a string only).
    """

    path: tuple[str, ...]
    value: str
    quoted: bool

    @property
    def number(self) -> int | float | None:
        """The value as a JSON number, when typed unquoted as one; else ``None``."""
        if self.quoted or not _NUMBER.match(self.value):
            return None
        return float(self.value) if "." in self.value else int(self.value)

    def candidates(self) -> list[Any]:
        """The JSON values the key may hold to match: the string, and the number if any."""
        number = self.number
        return [self.value] if number is None else [number, self.value]

    def matches(self, params: Any) -> bool:
        """Whether ``params`` (a job's params, as Python) match: the plain scan the SQL
        agrees with (see tests/test_params_search.py)."""
        node = params
        for key in self.path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        if isinstance(node, bool) or node is None:
            return False
        if isinstance(node, str):
            return node == self.value
        if isinstance(node, int | float):
            return self.number is not None and node == self.number
        return False

    def __str__(self) -> str:
        value = self.value
        if self.quoted or not value or any(c.isspace() or c in '"\\' for c in value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{PREFIX}{'.'.join(self.path)}:{value}"


def parse_term(text: str) -> ParamsTerm:
    """Parse ``KEY.KEY:VALUE`` (what follows ``params.``; a filter's value is this too).

    :param text: the term without its ``params.`` prefix.
    :raises InvalidArgument: no ``:``, an empty or odd key, an empty value, or a quote not
        closed.
    """
    keys, sep, raw = text.partition(":")
    shown = f"{PREFIX}{text}"[:60]
    if not sep:
        raise InvalidArgument(f"the params term {shown!r} needs KEY:VALUE")
    path = tuple(keys.split("."))
    if not all(_KEY.match(key) for key in path):
        raise InvalidArgument(
            f"the params term {shown!r} has a key that is not letters, digits, '_' or '-'"
        )
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"') or _odd_escape(raw[1:-1]):
            raise InvalidArgument(f"the params term {shown!r} has a quote that is not closed")
        value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        quoted = True
    else:
        value, quoted = raw, False
        if not value:
            raise InvalidArgument(f'the params term {shown!r} has no value (use "" for empty)')
    if "\x00" in value or len(value) > 200:
        raise InvalidArgument(f"the params term {shown!r} has a value the search cannot hold")
    return ParamsTerm(path, value, quoted)


def _odd_escape(inner: str) -> bool:
    """Whether a quoted value ends inside an escape, or has a bare quote inside."""
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            if i > len(inner):
                return True
            continue
        if inner[i] == '"':
            return True
        i += 1
    return False


def split_search(text: str) -> tuple[list[ParamsTerm], list[str]]:
    """Split what the search box holds into params terms and free-text terms (at most
    :data:`MAX_TERMS` in all), all AND-ed by the list.

    :param text: the search box's text.
    :raises InvalidArgument: a params term that does not parse.
    """
    found: list[ParamsTerm] = []
    words: list[str] = []
    for token in _TOKEN.findall(text.replace("\x00", ""))[:MAX_TERMS]:
        if token.startswith(PREFIX):
            found.append(parse_term(token[len(PREFIX) :]))
        else:
            words.append(token[:200])
    return found, words


def containment_clause(column: Any, term: ParamsTerm) -> sa.ColumnElement[bool]:
    """PostgreSQL's condition of one params term: ``params @> '{...}'`` for each JSON value
    the term may match (served by the GIN index ``ix_jobs_admin_job_params``).

    :param column: the ``Job.params`` column (``jsonb``).
    :param term: the parsed term.
    """
    column = sa.type_coerce(column, postgresql.JSONB)
    docs = []
    for value in term.candidates():
        doc: Any = value
        for key in reversed(term.path):
            doc = {key: doc}
        docs.append(column.op("@>")(sa.bindparam(None, doc, type_=postgresql.JSONB)))
    return sa.or_(*docs)


def json_extract_clause(column: Any, term: ParamsTerm) -> sa.ColumnElement[bool]:
    """SQLite's condition of one params term: ``json_extract`` compared with the value, with
    ``json_type`` so that a string and a number (or a boolean, which SQLite reads as 1) stay
    apart as they do on PostgreSQL.

    :param column: the ``Job.params`` column (JSON text).
    :param term: the parsed term.
    """
    path = "$" + "".join(f'."{key}"' for key in term.path)
    kind = sa.func.json_type(column, path)
    value = sa.func.json_extract(column, path)
    clauses = [sa.and_(kind == "text", value == term.value)]
    number = term.number
    if number is not None:
        clauses.insert(0, sa.and_(kind.in_(("integer", "real")), value == number))
    return sa.or_(*clauses)
