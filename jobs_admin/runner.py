"""Run one claimed job: build its context, call it, and record how it ended."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError

from . import signals
from ._outcome import complete, describe, failure, success, uncommitted
from .context import JobContext
from .errors import JobCancelled, UnknownJobType
from .models import EventKind, JobStatus
from .registry import describe_char, first_unstorable
from .store import RESUMING, Finish

COMPLETED, PARTIAL = JobStatus.COMPLETED, JobStatus.PARTIAL

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("jobs_admin.runner")

#: How long (ms) a progress write waits for SQLite's write lock before it stays buffered.
PROGRESS_BUSY_MS = 20

#: The stop reason the worker gives cancellable jobs at a graceful shutdown.
SHUTDOWN = "worker shutting down"


def run_job(
    rt: Runtime,
    job_id: int,
    worker: str,
    register: Callable[[int, JobContext | None], None],
    *,
    row: Mapping[str, Any] | None = None,
    defer: Callable[[Finish], None] | None = None,
) -> JobStatus | None:
    """Run the claimed job ``job_id`` in an app context and store its outcome.

    :param rt: the app's runtime; the job runs in the app's context, so ``db.session`` works.
    :param job_id: a job this worker has just claimed (status running, worker = ``worker``).
    :param worker: this worker's id; every write checks the job still belongs to it.
    :param register: called with the job's context when it starts and with ``None`` at the end,
        so the worker can heartbeat it and ask it to stop.
    :param row: the job's :data:`~jobs_admin.store.CLAIM_COLUMNS` as the claim returned them;
        read from the database when not given.
    :param defer: takes a successful end to write later, batched with others (the worker's
        group commit), when the job left nothing uncommitted in ``db.session``; the caller
        then writes it and sends ``job_finished``. Without it every end is written here.
    :returns: the status the job ended in, or ``None`` if the worker had lost it.
    """
    with rt.app.app_context():
        try:
            return _run(rt, job_id, worker, register, row, defer)
        finally:
            register(job_id, None)


def _run(
    rt: Runtime,
    job_id: int,
    worker: str,
    register: Callable[[int, JobContext | None], None],
    row: Mapping[str, Any] | None,
    defer: Callable[[Finish], None] | None,
) -> JobStatus | None:
    db, store, settings = rt.db, rt.store, rt.settings
    if row is None:
        with db.engine.connect() as conn:
            row = store.job_row(conn, job_id)
        if row is None:
            return None

    own = rt.connections
    sqlite = own.sqlite

    def write(values: dict[str, Any], events: list[dict[str, Any]]) -> bool | None:
        try:
            # The job's own session may hold SQLite's one write lock: wait briefly, then keep
            # the progress buffered rather than stall the job.
            with own.write(busy_ms=PROGRESS_BUSY_MS if sqlite else None) as conn:
                store.add_events(conn, [{"job_id": job_id, **e} for e in events])
                # Also with no values: log lines alone stamp the live feed's cursor.
                return store.progress(conn, job_id, worker, values)
        except OperationalError as exc:
            if sqlite and "locked" in str(exc):
                return None
            raise

    def end(
        status: JobStatus,
        values: dict[str, Any],
        event: str,
        level: str = "info",
        retry: bool = False,
        data: dict[str, Any] | None = None,
    ) -> JobStatus | None:
        with own.write() as conn:
            got = store.finish(conn, job_id, worker, status, values, retry=retry)
            if got is JobStatus.PENDING:
                store.notify_pending(conn)
            if got is not None and got is not status:
                event, level = "cancel requested during the attempt: not retried", "warning"
                data = None
            if got is not None:
                store.event(
                    conn,
                    job_id,
                    EventKind.STATUS,
                    event,
                    level=level,
                    data={"status": got.value, **(data or {})},
                )
        if got is None:
            log.warning(
                "job %s was taken from worker %s before it ended; result dropped", job_id, worker
            )
        return got

    try:
        job_type = rt.registry.get(row["type"])
    except UnknownJobType as exc:
        end(JobStatus.FAILED, {"error": str(exc), "phase": None}, str(exc), "error")
        _send_finished(rt, job_id)
        return JobStatus.FAILED

    resumed = row.get("phase") == RESUMING
    logged = 0
    if row["attempts"] > 1 or resumed:
        # The cap is per job: a retry or a resumed run gets what the earlier runs left of it
        # (a first run has no lines yet, and costs no query).
        # On a connection of its own: the job's session must start without a transaction.
        with db.engine.connect() as conn:
            logged = store.count_events(conn, job_id, EventKind.LOG.value)
    ctx = JobContext(
        job_id=job_id,
        job_type=row["type"],
        params=dict(row["params"] or {}),
        attempt=row["attempts"],
        max_attempts=row["max_attempts"],
        progress_total=row["progress_total"],
        progress_done=row["progress_done"] or 0,
        progress_failed=row["progress_failed"] or 0,
        results_dir=settings.results_dir,
        timeout=job_type.timeout,
        flush=write,
        progress_interval=settings.progress_interval,
        max_log_lines=settings.max_log_lines,
        logged_before=logged,
        resumed=resumed,
        steps=_earlier_steps(db, store, job_id, row["attempts"]) if resumed else (),
        record_items=job_type.record_items,
    )
    if resumed:
        _resume(ctx, write, worker)
    register(job_id, ctx)
    if row["cancel_requested"]:
        ctx.request_stop("cancelled")
    if signals.job_started.receivers:
        # Loaded only for listeners: a job that nobody watches costs no extra query.
        send_signal(signals.job_started, rt.app, rt.snapshot(job_id))

    status: JobStatus
    passed_on: BaseException | None = None
    try:
        result = _call(job_type.func, ctx)
    except JobCancelled as exc:
        db.session.rollback()
        ctx.flush()
        reason = ctx.stop_reason or exc.reason
        if reason == SHUTDOWN:
            # Paused without using up an attempt, its progress and first start kept: the
            # next worker resumes it where it stopped (ctx.resumed, ctx.done, ctx.steps).
            ok = end(
                JobStatus.PENDING,
                store.pause_values(),
                f"paused: {worker} shut down",
                data={"paused": _at(ctx)},
            )
            return JobStatus.PENDING if ok else None
        if reason.startswith("timed out"):
            status = failure(end, row, job_type.retry_backoff, reason, None)
        else:
            status = JobStatus.CANCELLED
            end(status, {"message": "cancelled", "phase": None}, "cancelled", "warning")
    except Exception as exc:
        db.session.rollback()
        ctx.flush()
        status = failure(end, row, job_type.retry_backoff, describe(exc), traceback.format_exc())
    except BaseException as exc:
        # SystemExit, KeyboardInterrupt or a custom BaseException: recorded now like any
        # failure, rather than leaving the job running until the rescue calls it lost.
        db.session.rollback()
        ctx.flush()
        log.error("job %s raised %s", job_id, type(exc).__name__, exc_info=exc)
        status = failure(end, row, job_type.retry_backoff, describe(exc), traceback.format_exc())
        if isinstance(exc, KeyboardInterrupt | SystemExit) and _main_thread():
            # In the main thread (``work_off`` from a script) it may be the process's own
            # Ctrl-C or exit: pass it on once recorded. A job thread lives on for the next job.
            passed_on = exc
    else:
        refused: str | None
        try:
            encoded = (
                None
                if result is None
                else json.loads(json.dumps(result, default=str, allow_nan=False))
            )
        except (TypeError, ValueError) as exc:
            encoded, refused = None, f"the job's result is not JSON: {exc}"
        else:
            found = first_unstorable(encoded)
            refused = (
                None
                if found is None
                else f"the job's result contains {describe_char(found[1])}"
                f"{' at ' + found[0] if found[0] else ''}, which the database cannot store"
            )
        if refused is not None:
            db.session.rollback()
            ctx.flush()
            status = failure(end, row, job_type.retry_backoff, refused, None)
        else:
            status = PARTIAL if ctx.failed else COMPLETED
            if defer is not None and not uncommitted(db.session):
                # Nothing of the job's own to commit with its end: the worker writes the end
                # together with other jobs' ends, and sends job_finished once it is written.
                defer(success(ctx, job_id, status, encoded))
                return status
            if not complete(db.session, store, ctx, job_id, worker, status, encoded):
                db.session.rollback()
                log.warning(
                    "job %s was taken from worker %s before it ended; its work was rolled back",
                    job_id,
                    worker,
                )
                return None
    finally:
        db.session.remove()
    if status is not JobStatus.PENDING:
        _send_finished(rt, job_id)
    if passed_on is not None:
        raise passed_on
    return status


def _call(func: Callable[..., Any], ctx: JobContext) -> Any:
    """Call the job function; a stop it was told of ends it as the stop says.

    A job that caught :class:`JobCancelled` (a bare ``except:``) and then returned or raised
    something else did stop early: it is cancelled, timed out or handed back all the same.

    :param func: the job type's function.
    :param ctx: the job's context; its params are passed as keyword arguments.
    :raises JobCancelled: the job was told to stop, whatever it did then.
    """
    try:
        result = func(ctx, **ctx.params)
    except JobCancelled:
        raise
    except BaseException as exc:
        if ctx.stop_raised:
            raise JobCancelled(ctx.stop_reason or "cancelled") from exc
        raise
    finally:
        ctx.close_log()
    if ctx.stop_raised:
        raise JobCancelled(ctx.stop_reason or "cancelled")
    return result


def _at(ctx: JobContext) -> dict[str, Any]:
    """Where a job stands, for the events of its pause and its resumption.

    :param ctx: the job's context.
    """
    return {"done": ctx.done, "failed": ctx.failed, "total": ctx.total}


def _earlier_steps(db: Any, store: Any, job_id: int, attempt: int) -> list[str]:
    """The names of the steps a paused job recorded in this attempt before it was paused.

    :param db: the host's ``SQLAlchemy``.
    :param store: the job store.
    :param job_id: the resumed job.
    :param attempt: its attempt, the same as before the pause (a pause spends none).
    """
    with db.engine.connect() as conn:
        return store.step_names(conn, job_id, attempt)


def _resume(ctx: JobContext, write: Callable[..., bool | None], worker: str) -> None:
    """Record that a paused job runs again, and show its last step as its phase.

    Written at once, so the list shows it running where it was rather than "Resuming".

    :param ctx: the resumed job's context.
    :param write: the runner's progress writer.
    :param worker: the worker that resumes it.
    """
    at = _at(ctx)
    where = f"{at['done']}/{at['total']}" if at["total"] is not None else f"{at['done']} done"
    event = {
        "kind": EventKind.STATUS.value,
        "message": f"resumed on {worker} at {where}",
        "data": {"status": "running", "resumed": at},
    }
    phase = ctx.steps[-1][:200] if ctx.steps else None
    if write({"phase": phase}, [event]) is None:
        ctx.put_back({"phase": phase}, [event])  # the database is busy: the next flush


def _main_thread() -> bool:
    """Whether this is the process's main thread, where Ctrl-C and ``sys.exit`` land."""
    return threading.current_thread() is threading.main_thread()


def _send_finished(rt: Runtime, job_id: int) -> None:
    if not signals.job_finished.receivers:
        return
    job = rt.snapshot(job_id)
    if job is not None:
        send_signal(signals.job_finished, rt.app, job)


def send_signal(signal: Any, app: Any, job: Any) -> None:
    """Send a job signal; a failing receiver is logged and never changes the job's outcome."""
    try:
        signal.send(app, job=job)
    except Exception:
        log.exception("a %s receiver failed for job %s", signal.name, getattr(job, "id", "?"))
