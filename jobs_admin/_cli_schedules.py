"""``flask jobs schedules`` and ``flask jobs schedule run|enable|disable NAME``."""

from __future__ import annotations

import getpass

import click
from flask.cli import with_appcontext

from . import cron, service
from .errors import JobsAdminError
from .runtime import Runtime, runtime_of


def _rt() -> Runtime:
    rt = runtime_of()
    service.sync_schedules(rt)
    return rt


def _who() -> str:
    """The audit trail's "who" of a CLI change: ``cli:<OS user>``."""
    try:
        return f"cli:{getpass.getuser()}"[:200]
    except (KeyError, OSError):
        return "cli"


def register(group: click.Group) -> None:
    """Add the schedule commands to the ``flask jobs`` group."""

    @group.command("schedules")
    @with_appcontext
    def schedules_command() -> None:
        """List the schedules with their next run (UTC and the schedule's zone)."""
        rows = service.all_schedules(_rt())
        click.echo(f"{'NAME':<28} {'ON':<3} {'CRON':<16} {'ZONE':<16} {'NEXT RUN (UTC)':<20} LAST")
        for r in rows:
            nxt = r["next_run_at"]
            when = f"{nxt:%Y-%m-%d %H:%M}" if nxt and r["enabled"] else "-"
            last = (
                f"#{r['last_job_id']} {r['last_status'] or 'deleted'}" if r["last_job_id"] else "-"
            )
            click.echo(
                f"{r['name']:<28} {'on' if r['enabled'] else 'off':<3} {r['cron']:<16}"
                f" {r['timezone']:<16} {when:<20} {last}"
            )
            click.echo(f"{'':<28}     {cron.describe(r['cron'])} ({r['type']})")

    @group.group("schedule")
    def schedule_group() -> None:
        """Run, enable or disable one schedule."""

    @schedule_group.command("run")
    @click.argument("name")
    @with_appcontext
    def run_command(name: str) -> None:
        """Fire a job of the schedule NAME now."""
        try:
            job_id = service.run_now(_rt(), name, _who())
        except JobsAdminError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"schedule {name}: job {job_id} enqueued")

    @schedule_group.command("enable")
    @click.argument("name")
    @with_appcontext
    def enable_command(name: str) -> None:
        """Enable the schedule NAME (its next tick counted from now)."""
        _switch(name, True)

    @schedule_group.command("disable")
    @click.argument("name")
    @with_appcontext
    def disable_command(name: str) -> None:
        """Disable the schedule NAME."""
        _switch(name, False)


def _switch(name: str, enabled: bool) -> None:
    try:
        row = service.set_schedule_enabled(_rt(), name, enabled, _who())
    except JobsAdminError as exc:
        raise click.ClickException(str(exc)) from None
    nxt = row["next_run_at"]
    tail = f"; next run {nxt:%Y-%m-%d %H:%M} UTC" if nxt else ""
    click.echo(f"schedule {name}: {'enabled' if enabled else 'disabled'}{tail}")
