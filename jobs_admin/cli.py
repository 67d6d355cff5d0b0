"""``flask jobs ...``: run a worker and manage jobs from the shell."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from . import service
from ._worker_control import CLI_WORKER
from .errors import JobsAdminError
from .models import JobStatus
from .runtime import Runtime, runtime_of


def _rt() -> Runtime:
    return runtime_of()


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc))


@click.group("jobs")
def jobs_cli() -> None:
    """Run the jobs worker and manage jobs."""


@jobs_cli.command("worker")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 256),
    default=None,
    help="Job threads (default JOBS_ADMIN_CONCURRENCY).",
)
@with_appcontext
def worker_command(concurrency: int | None) -> None:
    """Run jobs in this process until SIGINT or SIGTERM, then stop gracefully.

    On a signal the worker stops claiming, asks cancellable jobs to hand themselves back to the
    queue, and waits up to JOBS_ADMIN_SHUTDOWN_GRACE seconds for the others.
    """
    rt = _rt()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        click.echo(f"jobs worker: {signal.Signals(signum).name}, stopping", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    CLI_WORKER["on"] = True
    worker = service.start_worker(rt, concurrency)
    click.echo(f"jobs worker {worker.name}: {worker.concurrency} threads; Ctrl-C to stop", err=True)
    while not stop.wait(0.2) and not worker.stopped:
        pass  # a signal, or an admin's Stop on the Workers page
    left = service.stop_worker(rt, wait=True)
    if left:
        click.echo(
            f"jobs worker: jobs {left} still running after the grace period; exiting anyway"
            " (another worker rescues them after JOBS_ADMIN_STALE_AFTER)",
            err=True,
        )
        sys.stderr.flush()
        # The job threads cannot be interrupted and the interpreter would wait for them at
        # exit; the process manager asked us to stop, so stop now.
        os._exit(3)
    click.echo("jobs worker: stopped", err=True)


@jobs_cli.command("enqueue")
@click.argument("job_type")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A param; repeat for a list. VALUE is read as JSON when it parses, else text.",
)
@click.option("--name", default=None, help="The job's name.")
@click.option("--reference", default=None, help="A reference to search by.")
@click.option("--priority", type=int, default=0, help="Higher runs first.")
@with_appcontext
def enqueue_command(
    job_type: str, params: tuple[str, ...], name: str | None, reference: str | None, priority: int
) -> None:
    """Enqueue a job of JOB_TYPE and print its id."""
    values: dict[str, list[Any]] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        values.setdefault(key, []).append(value)
    # A repeated key makes a list of its values (a JSON list value stays one item of it).
    data = {key: vs[0] if len(vs) == 1 else vs for key, vs in values.items()}
    try:
        job = service.enqueue(
            _rt(),
            job_type,
            name=name,
            reference=reference,
            priority=priority,
            params=data,
            created_by="cli",
            commit=True,
        )
    except JobsAdminError as exc:
        _fail(exc)
    click.echo(job.id)


@jobs_cli.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), default=None)
@click.option("--type", "job_type", default=None)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@with_appcontext
def list_command(status: str | None, job_type: str | None, limit: int) -> None:
    """List the newest jobs."""
    rt = _rt()
    j = rt.Job
    stmt = sa.select(j).order_by(j.created_at.desc(), j.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(j.status == status)
    if job_type:
        stmt = stmt.where(j.type == job_type)
    rows = rt.db.session.scalars(stmt).all()
    if not rows:
        click.echo("no jobs")
        return
    click.echo(f"{'ID':>8}  {'STATUS':<10} {'TYPE':<24} {'PROGRESS':<12} {'CREATED':<20} NAME")
    for job in rows:
        progress = f"{job.progress_done}/{job.progress_total}" if job.progress_total else "-"
        created = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{job.id:>8}  {job.status:<10} {job.type:<24} {progress:<12} {created:<20} "
            f"{job.name or ''}"
        )


@jobs_cli.command("show")
@click.argument("job_id", type=int)
@with_appcontext
def show_command(job_id: int) -> None:
    """Show one job with its log."""
    rt = _rt()
    job = service.get(rt, job_id)
    if job is None:
        raise click.ClickException(f"job {job_id} does not exist")
    for field in (
        "id",
        "type",
        "name",
        "reference",
        "status",
        "phase",
        "message",
        "attempts",
        "max_attempts",
        "worker",
        "created_by",
        "updated_by",
        "created_at",
        "started_at",
        "finished_at",
        "progress_total",
        "progress_done",
        "progress_failed",
        "result_file",
        "error",
    ):
        click.echo(f"{field:>15}: {getattr(job, field)}")
    click.echo(f"{'params':>15}: {json.dumps(job.params, sort_keys=True)}")
    click.echo(f"{'result':>15}: {json.dumps(job.result, sort_keys=True)}")
    if job.traceback:
        click.echo("traceback:\n" + job.traceback)
    e = rt.JobEvent
    events = rt.db.session.scalars(sa.select(e).where(e.job_id == job_id).order_by(e.id)).all()
    if events:
        click.echo("events:")
        for ev in events:
            click.echo(f"  {ev.at:%Y-%m-%d %H:%M:%S} {ev.kind:<11} {ev.level:<7} {ev.message}")


def _act(action: str, job_id: int) -> Any:
    rt = _rt()
    try:
        if action == "delete":
            return service.delete(rt, job_id)
        return getattr(service, action)(rt, job_id, None)
    except JobsAdminError as exc:
        _fail(exc)


@jobs_cli.command("retry")
@click.argument("job_id", type=int)
@with_appcontext
def retry_command(job_id: int) -> None:
    """Put a failed, partial or cancelled job back in the queue."""
    _act("retry", job_id)
    click.echo(f"job {job_id} queued again")


@jobs_cli.command("cancel")
@click.argument("job_id", type=int)
@with_appcontext
def cancel_command(job_id: int) -> None:
    """Cancel a pending job, or ask a running one to stop."""
    job = _act("cancel", job_id)
    if job.status == "running":
        click.echo(f"job {job_id} asked to stop")
    else:
        click.echo(f"job {job_id} cancelled")


@jobs_cli.command("delete")
@click.argument("job_id", type=int)
@with_appcontext
def delete_command(job_id: int) -> None:
    """Delete a finished job, its log and its result file."""
    _act("delete", job_id)
    click.echo(f"job {job_id} deleted")


@jobs_cli.command("prune")
@click.option(
    "--days",
    type=click.IntRange(0),
    default=None,
    help="Cut-off in days (default JOBS_ADMIN_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Only say how many jobs would be deleted.")
@with_appcontext
def prune_command(days: int | None, dry_run: bool) -> None:
    """Delete finished jobs older than the cut-off."""
    rt = _rt()
    shown = rt.settings.retention_days if days is None else days
    if dry_run:
        n = service.count_prunable(rt, days)
        click.echo(f"would delete {n} finished job(s) older than {shown} day(s)")
        return
    n = service.prune(rt, days)
    click.echo(f"deleted {n} finished job(s) older than {shown} day(s)")


@jobs_cli.command("recount")
@with_appcontext
def recount_command() -> None:
    """Rebuild the per-status counters from the jobs table."""
    counts = service.recount(_rt())
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@jobs_cli.command("restat")
@with_appcontext
def restat_command() -> None:
    """Rebuild the rollups of job ends (Insights, metrics) from the jobs still stored."""
    n = service.restat(_rt())
    click.echo(f"counted the ends of {n} finished job(s)")


@jobs_cli.command("types")
@with_appcontext
def types_command() -> None:
    """List the registered job types."""
    registry = _rt().registry
    if not len(registry):
        click.echo("no job types registered")
        return
    for jt in registry:
        flags = [f"max_attempts={jt.max_attempts}"]
        if jt.timeout:
            flags.append(f"timeout={jt.timeout:g}s")
        if not jt.cancellable:
            flags.append("not cancellable")
        fields = (
            ", ".join(
                jt.params().__iter__().__class__.__name__
                and [f.name for f in jt.params(meta={"csrf": False})]
            )
            if jt.params
            else "-"
        )
        click.echo(f"{jt.name:<28} {jt.title:<28} params: {fields}  ({', '.join(flags)})")


from ._cli_schedules import register as _register_schedules  # noqa: E402

_register_schedules(jobs_cli)
