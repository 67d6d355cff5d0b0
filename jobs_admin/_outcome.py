"""How a job's run ends: the writes of a success, a failure and its retry, and their events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .context import JobContext
from .models import EventKind, JobStatus, utcnow
from .registry import storable
from .store import FRESH_PROGRESS, Finish


def describe(exc: BaseException) -> str:
    """``"ValueError: no luck"``, or only the type's name when the exception has no message.

    :param exc: what the job raised.
    """
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def uncommitted(session: Any) -> bool:
    """Whether the job's scoped ``db.session`` exists and has a transaction under way."""
    registry = getattr(session, "registry", None)
    if registry is not None and not registry.has():
        return False  # Never used by the job: asking would create a session for nothing.
    return bool(session().in_transaction() if registry is not None else session.in_transaction())


def success(ctx: JobContext, job_id: int, status: JobStatus, result: Any) -> Finish:
    """The batched form of :func:`complete`'s writes."""
    values, events = ctx.drain()
    values.pop("phase", None)  # an ended job has no phase
    now = utcnow()
    return Finish(
        job_id=job_id,
        status=status,
        values={**values, "result": result},
        events=[*events, {**status_event(ctx, status), "at": now}],
        finished_at=now,
    )


def status_event(ctx: JobContext, status: JobStatus) -> dict[str, Any]:
    return {
        "kind": EventKind.STATUS.value,
        "message": f"finished with {ctx.failed} failed item(s)" if ctx.failed else "completed",
        "level": "warning" if ctx.failed else "info",
        "data": {"status": status.value},
    }


def complete(
    session: Any,
    store: Any,
    ctx: JobContext,
    job_id: int,
    worker: str,
    status: JobStatus,
    result: Any,
) -> bool:
    """Record success in the job's own transaction, so its writes and its end commit together.

    If the worker no longer owns the job (another process rescued it), nothing is committed:
    the job's database work is not done twice.
    """
    values, events = ctx.drain()
    store.add_events(session, [{"job_id": job_id, **e} for e in events])
    # A success after failed attempts clears their error; the history keeps each one.
    values = {**values, "result": result, "phase": None, "error": None, "traceback": None}
    got = store.finish(session, job_id, worker, status, values)
    if got is None:
        return False
    store.add_events(session, [{"job_id": job_id, **status_event(ctx, status)}])
    session.commit()
    return True


def failure(
    end: Callable[..., JobStatus | None],
    row: Any,
    backoff: float,
    error: str,
    trace: str | None,
) -> JobStatus:
    """Requeue a failed run with backoff while attempts are left; else fail the job."""
    attempts, max_attempts = row["attempts"], row["max_attempts"]
    # An exception's text may hold a NUL, which PostgreSQL would refuse with the whole end.
    error = storable(error[:10000])
    values = {"error": error, "traceback": None if trace is None else storable(trace)}
    if attempts < max_attempts:
        delay = backoff * (2 ** (attempts - 1))
        got = end(
            JobStatus.PENDING,
            {
                **values,
                **FRESH_PROGRESS,
                "worker": None,
                "heartbeat_at": None,
                "run_at": utcnow() + timedelta(seconds=delay),
            },
            f"attempt {attempts} of {max_attempts} failed: {error[:500]}; retrying in {delay:g} s",
            "warning",
            retry=True,
        )
        return got or JobStatus.PENDING
    end(JobStatus.FAILED, {**values, "phase": None}, f"failed: {error[:500]}", "error")
    return JobStatus.FAILED
