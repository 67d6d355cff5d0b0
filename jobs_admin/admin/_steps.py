"""The detail page's steps panel: each step's state, its expected duration, its log and items.

A step's expected duration is the median of that step's duration in the type's last
:data:`HISTORY_RUNS` completed jobs; with no such history it is not shown. The steps those runs
went through and this job has not reached are listed as "not run", so the panel can say
"Step 2 of 3".
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..i18n import lazy_gettext
from ..models import JobStatus
from ._items import step_items

if TYPE_CHECKING:
    from ..extension import JobsAdmin
    from ..store.items import ItemPage

#: How many of the type's newest completed jobs the estimates are taken from.
HISTORY_RUNS = 20

#: Items listed under an expanded step (the Items table has them all).
STEP_ITEMS = 10

#: Log lines listed under an expanded step.
STEP_LOGS = 50

#: A step's state: its icon and its words (``done`` is the green tick).
STATES = {
    "done": ("fa-check text-success", lazy_gettext("done")),
    "running": ("fa-spinner fa-spin text-primary", lazy_gettext("running")),
    "failed": ("fa-times text-danger", lazy_gettext("failed")),
    "stopped": ("fa-stop-circle text-secondary", lazy_gettext("stopped")),
    "waiting": ("fa-pause-circle text-secondary", lazy_gettext("waiting")),
    "not_run": ("fa-circle-o text-muted", lazy_gettext("not run")),
}


@dataclass
class StepView:
    """One line of the steps panel.

    :param name: the step's name.
    :param state: a key of :data:`STATES`.
    :param at: when it began (``None``: not run).
    :param seconds: how long it ran (to now while it runs).
    :param estimate: the median seconds of this step in recent successful runs, if any.
    :param first_item: the number of its first recorded item (``None``: unknown).
    :param pause: the pause note of the timeline (see :class:`._details.Step`).
    """

    name: str
    state: str
    at: datetime | None = None
    seconds: float | None = None
    estimate: float | None = None
    first_item: int | None = None
    pause: str | None = None
    logs: list[Any] = field(default_factory=list)
    items: ItemPage | None = None

    @property
    def icon(self) -> str:
        """The Font Awesome classes of its state."""
        return STATES[self.state][0]

    @property
    def label(self) -> str:
        """Its state in words."""
        return STATES[self.state][1]

    @property
    def ends_at(self) -> datetime | None:
        """When a running step should end by its estimate (drives the countdown)."""
        if self.state != "running" or self.at is None or self.estimate is None:
            return None
        return self.at + timedelta(seconds=self.estimate)


def estimates(jobs: JobsAdmin, job_type: str) -> tuple[dict[str, float], list[str]]:
    """Median seconds per step name over the type's recent completed runs, and the steps the
    newest of them went through (the plan a job of the type follows).

    :param jobs: the extension.
    :param job_type: the type's name.
    """
    runs = jobs.store.recent_steps(jobs.db.session, job_type, HISTORY_RUNS)
    durations: dict[str, list[float]] = {}
    for steps, finished in runs:
        for i, (name, at) in enumerate(steps):
            end = steps[i + 1][1] if i + 1 < len(steps) else finished
            durations.setdefault(name, []).append(max(0.0, (end - at).total_seconds()))
    plan = [name for name, _at in runs[0][0]] if runs else []
    return {name: statistics.median(v) for name, v in durations.items()}, plan


def last_state(job: Any) -> str:
    """The state of the step the job was in last (see :data:`STATES`)."""
    status = job.status
    if status == JobStatus.RUNNING:
        return "running"
    if status == JobStatus.FAILED or (status == JobStatus.PENDING and job.error):
        return "failed"
    if status == JobStatus.CANCELLED:
        return "stopped"
    if status == JobStatus.PENDING:
        return "waiting"
    return "done"


def build(
    jobs: JobsAdmin, job: Any, steps: list[Any], step_events: list[Any], logs: list[Any]
) -> list[StepView]:
    """The steps panel's lines: the steps the job went through, then those of the plan it
    has not reached.

    :param jobs: the extension.
    :param job: the job shown.
    :param steps: its timeline (:class:`._details.Step`, in order).
    :param step_events: the step events they came from (their data holds the first item).
    :param logs: the log lines the page read (each step lists those of its time).
    """
    medians, plan = estimates(jobs, job.type)
    lines: list[StepView] = []
    for i, step in enumerate(steps):
        data = step_events[i].data if i < len(step_events) else None
        first = data.get("item") if isinstance(data, dict) else None
        last = i + 1 == len(steps)
        lines.append(
            StepView(
                name=step.name,
                state=last_state(job) if last else "done",
                at=step.at,
                seconds=step.seconds,
                estimate=medians.get(step.name),
                first_item=first if isinstance(first, int) else None,
                pause=step.pause,
            )
        )
    # Log lines by time: each step takes those from its start to the next one's.
    for i, line in enumerate(lines):
        assert line.at is not None
        end = lines[i + 1].at if i + 1 < len(lines) else None
        line.logs = [ev for ev in logs if ev.at >= line.at and (end is None or ev.at < end)][
            -STEP_LOGS:
        ]
    record = job.type in jobs.registry and jobs.registry.get(job.type).record_items
    if record:
        for i, line in enumerate(lines):
            if line.first_item is None:
                continue
            stop = lines[i + 1].first_item if i + 1 < len(lines) else None
            line.items = step_items(jobs, job, line.first_item, stop, STEP_ITEMS)
    # The plan's steps this job has not reached (a job that ended early: "not run").
    seen = [line.name for line in lines]
    if len(plan) > len(seen) and plan[: len(seen)] == seen:
        lines += [
            StepView(name=name, state="not_run", estimate=medians.get(name))
            for name in plan[len(seen) :]
        ]
    return lines


def position(lines: list[StepView]) -> tuple[int, int] | None:
    """(the step the job is at, counting from 1; how many steps in all), or ``None``."""
    reached = [i for i, line in enumerate(lines) if line.state != "not_run"]
    if not reached:
        return None
    return reached[-1] + 1, len(lines)
