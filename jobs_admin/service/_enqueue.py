"""Enqueue a job: validate its type, params and labels, and add it to the caller's session."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .. import signals
from ..errors import DuplicateJob, InvalidArgument, InvalidParams
from ..models import utcnow
from ..registry import describe_char, unstorable_char
from ..runtime import Runtime

log = logging.getLogger("jobs_admin.enqueue")

#: ``session.info`` key: the transaction made a job due; its commit wakes this process's worker.
WAKE_KEY = "jobs_admin_wake"


def enqueue(
    rt: Runtime,
    type: str,
    *,
    name: str | None = None,
    reference: str | None = None,
    priority: int = 0,
    run_at: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    created_by: str | None = None,
    commit: bool = False,
    kwargs: Mapping[str, Any] | None = None,
    on_duplicate: str = "return",
) -> Any:
    """Add a job of the registered ``type`` to ``db.session``; return the flushed ``Job``.

    :param rt: the app's runtime (in its app context: the job joins ``db.session``).
    :param type: a registered job type name.
    :param name: what the admin list shows (defaults to the type's title).
    :param reference: a free reference to search by.
    :param priority: higher runs first.
    :param run_at: a timezone-aware time before which it does not run.
    :param params: the params as a mapping.
    :param created_by: its creator (defaults to the current user's identity).
    :param commit: commit the session at once.
    :param kwargs: more params, given by keyword to the public ``enqueue``.
    :param on_duplicate: for a ``unique`` type whose key a pending (or running) job holds:
        ``"return"`` that job, its ``duplicate`` attribute true, or ``"raise"``
        :class:`~jobs_admin.errors.DuplicateJob`.
    :raises UnknownJobType: no such type.
    :raises InvalidParams: params that do not validate, are not JSON, or are too large.
    :raises DuplicateJob: a duplicate, with ``on_duplicate="raise"``.
    """
    if on_duplicate not in ("return", "raise"):
        raise InvalidArgument('on_duplicate must be "return" or "raise"')
    job_type = rt.registry.get(type)
    merged = dict(params or {})
    extra = dict(kwargs or {})
    clash = sorted(set(merged) & set(extra))
    if clash:
        raise InvalidParams(f"params given twice: {', '.join(clash)}")
    merged.update(extra)
    data = job_type.validate(merged, rt.settings.max_params_bytes)
    if run_at is not None and run_at.tzinfo is None:
        raise InvalidParams("run_at must be timezone-aware")
    if created_by is None:
        created_by = rt.access.who()
    # created_by too: it may come from the caller or from the host's identity hook.
    for label, value in (("name", name), ("reference", reference), ("creator", created_by)):
        check_label(label, value)
    session = rt.db.session
    values: dict[str, Any] = {
        "type": job_type.name,
        "name": name or job_type.title,
        "reference": reference or None,
        "params": data,
        "priority": int(priority),
        "run_at": run_at or utcnow(),
        "max_attempts": job_type.max_attempts,
        "created_by": created_by,
        "updated_by": created_by,
    }
    key = job_type.unique_key(data)
    if key is None:
        job = rt.store.enqueue(session, **values)
    else:
        job, duplicate = rt.store.enqueue_unique(session, unique_key=key, **values)
        if duplicate:
            log.debug("enqueue %s: a duplicate of job %s, which is returned", type, job.id)
            if on_duplicate == "raise":
                raise DuplicateJob(job.id, job_type.name)
            job.duplicate = True
            if commit:
                session.commit()
            return job
    session.info[WAKE_KEY] = True
    signals.job_enqueued.send(rt.app, job=job)
    if commit:
        session.commit()
    return job


def check_label(label: str, value: str | None) -> None:
    """Refuse a job's name, reference or creator that the jobs table cannot hold.

    :param label: what the value is, for the message.
    :param value: the value, or ``None``.
    :raises InvalidParams: longer than 200 characters, or with a character the database
        cannot store.
    """
    if value is None:
        return
    if len(value) > 200:
        raise InvalidParams(f"the job's {label} is longer than 200 characters")
    bad = unstorable_char(value)
    if bad is not None:
        raise InvalidParams(
            f"the job's {label} contains {describe_char(bad)}, which the database cannot store"
        )
