"""The schedule methods of :class:`~jobs_admin.JobsAdmin` (thin: the work is in
:mod:`jobs_admin.service`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, has_app_context

from . import service
from .registry import Registry

if TYPE_CHECKING:
    from .runtime import Runtime


class ScheduleAPI:
    """``jobs.schedule(...)`` and friends."""

    registry: Registry

    if TYPE_CHECKING:  # JobsAPI's, next to this class in JobsAdmin

        def runtime(self, app: Flask | None = None) -> Runtime: ...

    def schedule(
        self,
        name: str,
        type: str,
        cron: str,
        *,
        timezone: str = "UTC",
        params: dict[str, Any] | None = None,
        enabled: bool = True,
        skip_if_running: bool = True,
        description: str | None = None,
    ) -> service.ScheduleSpec:
        """Declare a recurring job: fire a job of ``type`` at every tick of ``cron``.

        Stored in ``jobs_admin_schedule`` (upsert by name) when a worker starts, when the
        Schedules page or ``flask jobs schedules`` first looks, and at once when called inside
        an app context. See the README for which of the code's and the admin's values wins.

        :param name: a unique name (letters, digits, spaces and ``. _ - :``, up to 100).
        :param type: a registered job type.
        :param cron: a standard five-field cron expression (Sunday is 0 or 7).
        :param timezone: the IANA zone its times are in (``"Europe/Berlin"``).
        :param params: the jobs' params (checked by the type's form when stored).
        :param enabled: whether it fires, when first stored (an admin's choice wins later).
        :param skip_if_running: skip a tick while the previous job is pending or running.
        :param description: what it is for, shown on the Schedules page.
        :raises InvalidSchedule: a bad name, cron expression or time zone (or, inside an app
            context, a type that is not registered).
        :raises InvalidParams: inside an app context, params the type refuses.
        """
        spec = service.schedule_spec(
            name,
            type,
            cron,
            timezone=timezone,
            params=params,
            enabled=enabled,
            skip_if_running=skip_if_running,
            description=description,
        )
        self.registry.schedules[name] = spec
        if has_app_context():
            try:
                rt = self.runtime()
            except RuntimeError:
                return spec
            try:
                service.sync_schedules(rt, force=True, strict=name)
            except Exception:
                del self.registry.schedules[name]
                raise
        return spec

    def schedules(self) -> list[dict[str, Any]]:
        """Every stored schedule (dicts of its columns and ``last_status``), by name."""
        rt = self.runtime()
        service.sync_schedules(rt)
        return service.all_schedules(rt)

    def run_schedule(self, name: str, *, who: str | None = None) -> int:
        """Fire a job of the schedule ``name`` now (outside its ticks); return the job's id."""
        rt = self.runtime()
        service.sync_schedules(rt)
        job_id: int = service.run_now(rt, name, who)
        return job_id

    def enable_schedule(self, name: str, *, who: str | None = None) -> dict[str, Any]:
        """Enable the schedule ``name`` (its next tick counted from now)."""
        rt = self.runtime()
        service.sync_schedules(rt)
        return service.set_schedule_enabled(rt, name, True, who)

    def disable_schedule(self, name: str, *, who: str | None = None) -> dict[str, Any]:
        """Disable the schedule ``name``."""
        rt = self.runtime()
        service.sync_schedules(rt)
        return service.set_schedule_enabled(rt, name, False, who)

    def fire_schedules(self, now: datetime | None = None) -> int:
        """Fire the due schedules in the calling thread (what the worker's ticker does); for
        tests and scripts. Returns how many jobs were added."""
        rt = self.runtime()
        service.sync_schedules(rt)
        return service.fire_due(rt, now)
