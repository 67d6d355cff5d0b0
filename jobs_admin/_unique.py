"""Unique job types: the key a job of such a type holds while it is pending (or running).

``@jobs.job_type(..., unique=True)`` keys a job by its type and params;
``unique=lambda params: params["profile_id"]`` by its type and what the function returns.
``unique_while`` says how long a job holds its key: ``("pending", "running")`` (the default)
or ``("pending",)``. The key is stored in ``jobs_admin_job.unique_key``, where a partial unique
index (``WHERE unique_key IS NOT NULL AND status IN ('pending', 'running')``) lets no two jobs
hold one: the database, not a read before the insert, decides between two processes that
enqueue at the same instant. A key held while pending only starts with ``p:`` and is cleared
when a worker claims the job; one held while running too starts with ``r:``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

#: ``unique=``: ``True`` (type + params) or ``key(params) -> JSON value``.
Unique = bool | Callable[[dict[str, Any]], Any]

#: The ``unique_while`` values accepted, and the prefix of the keys they give.
WHILE_PREFIX = {
    frozenset({"pending"}): "p:",
    frozenset({"pending", "running"}): "r:",
}

DEFAULT_WHILE = ("pending", "running")


def check_while(unique_while: Sequence[str]) -> tuple[str, ...]:
    """``unique_while`` as given, checked.

    :raises ValueError: anything but ``("pending",)`` or ``("pending", "running")``.
    """
    if isinstance(unique_while, str) or frozenset(unique_while) not in WHILE_PREFIX:
        raise ValueError('unique_while must be ("pending",) or ("pending", "running")')
    return tuple(unique_while)


def unique_key(
    type_name: str, unique: Unique, unique_while: Sequence[str], params: dict[str, Any]
) -> str | None:
    """The key a new job of ``type_name`` with ``params`` holds; ``None``: not unique.

    :param type_name: the job type's name.
    :param unique: the type's ``unique=`` option.
    :param unique_while: the type's ``unique_while=`` option (checked).
    :param params: the validated params (JSON-ready).
    :raises TypeError: a key function that returns something that is not JSON.
    """
    if unique is False:
        return None
    value = params if unique is True else unique(params)
    encoded = json.dumps([type_name, value], sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(encoded.encode()).hexdigest()
    return f"{WHILE_PREFIX[frozenset(unique_while)]}{type_name}:{digest}"
