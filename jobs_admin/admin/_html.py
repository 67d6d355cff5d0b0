"""The repeated HTML of the jobs pages (cells, badges, row buttons), built in Python.

A list page has 25-250 rows of eight cells and up to four links and forms each. As Jinja macros
they were most of the page's time: a macro call per cell, an ``url_for`` per link, a permission
check through the user lookup per button. Here a cell is one string build, and the links and
forms of a row come from patterns rendered once per page with the job id slotted in
(:func:`id_pattern`). The macros of ``_macros.html`` call these functions, so the list and the
detail page print the same markup, byte for byte what the macros printed before.

Every value from a job goes through :func:`markupsafe.escape`, as ``{{ }}`` did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_admin.babel import gettext
from jinja2 import pass_context
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

from ..models import BADGES, JobStatus
from ..store import PAUSED
from . import format as fmt

if TYPE_CHECKING:
    from ..permissions import Answers
    from ._base import ViewBase

#: Stands for the job id while a pattern is rendered: digits, so that it passes through
#: ``url_for`` (an ``int`` route argument) and escaping unchanged.
MARK = "900719925474099"

_BADGES = {s.value: BADGES[s] for s in JobStatus}
_RETRYABLE = ("failed", "partial", "cancelled")
_CANCELLABLE = ("pending", "running")
_DELETABLE = ("completed", "partial", "failed", "cancelled")


def id_pattern(render: Callable[[str], str], places: int) -> IdPattern:
    """``render`` for any job id, from one call: render with :data:`MARK` and split there.

    Then a row costs a ``str.join`` instead of an ``url_for`` and the escaping. If the mark turns
    up other than ``places`` times (a user typed it: it came with the search, say), the split
    would be wrong, so ``render`` is called for every id instead.

    :param render: builds the string for an id given as text (digits).
    :param places: how many times the id occurs in what ``render`` returns.
    """
    parts = render(MARK).split(MARK)
    if len(parts) == places + 1:
        return IdPattern(parts, None)
    return IdPattern(None, render)


class IdPattern:
    """A string with a job id in it, made by :func:`id_pattern`: ``pattern(job_id)``."""

    __slots__ = ("parts", "render")

    def __init__(self, parts: list[str] | None, render: Callable[[str], str] | None) -> None:
        #: the text around the id's places, or ``None`` when each id is rendered anew
        self.parts = parts
        self.render = render

    def __call__(self, job_id: int) -> str:
        if self.parts is not None:
            return str(job_id).join(self.parts)
        assert self.render is not None
        # str(): a plain string either way (``str + Markup`` would escape the str).
        return str(self.render(str(job_id)))


# -- pieces shared with the detail page (the macros of _macros.html call these) ---------------


#: The label of a job its worker handed back at shutdown (mirrored in jobs_admin_live.js).
PAUSED_BADGE = (
    '<span class="badge badge-info jobs-admin-paused" title="Its worker shut down while it ran;'
    ' the next worker resumes it where it stopped.">Paused</span>'
)


def status_badge(status: Any, phase: Any = None, error: Any = None, stale: bool = False) -> Markup:
    """A job's status badge, with its error icon, "worker lost?" badge and phase."""
    text = escape(status)
    html = (
        f'<span class="badge {escape(_BADGES.get(status, "badge-light"))} jobs-admin-status" '
        f'data-status="{text}">{text}</span>'
    )
    if status == "failed" and error:
        short = escape(do_truncate(current_app.jinja_env, error, 300))
        html += (
            '\n    <span class="fa fa-exclamation-circle text-danger jobs-admin-error-icon" '
            f'title="{short}" aria-label="Error: {short}"></span>'
        )
    if stale:
        html += (
            '\n    <span class="badge badge-warning jobs-admin-stale" title="No heartbeat for a '
            'while; the rescue will requeue or fail this job.">worker lost?</span>'
        )
    if status == "running" and phase:
        html += f'\n    <div class="small text-muted jobs-admin-phase">{escape(phase)}</div>'
    if status == "pending" and phase == PAUSED:
        html += f"\n    {PAUSED_BADGE}"
    return Markup(html)


def progress(job: Any, big: bool = False) -> Markup:
    """A job's progress bar with its figures (``done/total · n failed``)."""
    total = job.progress_total or 0
    done = job.progress_done or 0
    failed = job.progress_failed or 0
    tail = f' · <span class="text-danger">{failed} failed</span>' if failed else ""
    if total:
        striped = " progress-bar-striped progress-bar-animated" if job.status == "running" else ""
        return Markup(
            f'<div class="jobs-admin-progress" data-job-progress="{escape(job.id)}">\n'
            f'    <div class="progress{"" if big else " jobs-admin-progress-sm"}" '
            f'role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
            f'aria-valuenow="{done + failed}" aria-label="{done} of {total} done">\n'
            f'      <div class="progress-bar bg-success{striped}" '
            f'style="width: {100.0 * done / total:.1f}%"></div>\n'
            f'      <div class="progress-bar bg-danger" '
            f'style="width: {100.0 * failed / total:.1f}%"></div>\n'
            "    </div>\n"
            f'    <small class="text-muted">{done}/{total}{tail}</small>\n'
            "  </div>"
        )
    if done or failed:
        return Markup(f'<small class="text-muted">{done} done{tail}</small>')
    return Markup('<small class="text-muted">—</small>')


def time(value: Any) -> Markup:
    """A ``<time>`` saying how long ago ``value`` was (its UTC timestamp as the title), or —."""
    if not value:
        return Markup("—")
    return Markup(
        f'<time datetime="{escape(value.isoformat())}" title="{escape(fmt.utc(value))}" '
        f'class="jobs-admin-time">{escape(fmt.relative_time(value))}</time>'
    )


def action_form(
    url: str,
    label: str,
    icon: str,
    btn: str,
    csrf: str,
    return_url: str,
    confirm: str | None = None,
    title: str | None = None,
) -> Markup:
    """A one-button POST form (with its CSRF token and the page to come back to)."""
    said = escape(title or label)
    return Markup(
        f'<form method="POST" action="{escape(url)}" class="d-inline jobs-admin-action"'
        + (f' data-confirm="{escape(confirm)}"' if confirm else "")
        + ">\n"
        f'    <input type="hidden" name="csrf_token" value="{escape(csrf)}">\n'
        f'    <input type="hidden" name="url" value="{escape(return_url)}">\n'
        f'    <button type="submit" class="btn btn-sm {escape(btn)}" title="{said}" '
        f'aria-label="{said}"><span class="fa fa-{escape(icon)}"></span>'
        + ("" if title else f" {escape(label)}")
        + "</button>\n  </form>"
    )


def _button_forms(
    view: ViewBase, csrf: str, return_url: str, compact: bool
) -> tuple[Callable[[str], str], ...]:
    """The retry, cancel and delete forms of a job, each as ``render(job_id_text)``."""

    def retry(n: str) -> str:
        return action_form(
            view.get_url(".retry_job", job_id=int(n)),
            "Retry",
            "repeat",
            "btn-outline-primary",
            csrf,
            return_url,
            title=f"Retry job {n}" if compact else None,
        )

    def cancel(n: str) -> str:
        return action_form(
            view.get_url(".cancel_job", job_id=int(n)),
            "Cancel",
            "stop",
            "btn-outline-warning",
            csrf,
            return_url,
            confirm=f"Cancel job {n}? Items already done are kept.",
            title=f"Cancel job {n}" if compact else None,
        )

    def delete(n: str) -> str:
        return action_form(
            view.get_url(".delete_job", job_id=int(n)),
            "Delete",
            "trash",
            "btn-outline-danger",
            csrf,
            return_url,
            confirm=f"Delete job {n} with its log and result file? This cannot be undone.",
            title=f"Delete job {n}" if compact else None,
        )

    return retry, cancel, delete


def job_buttons(
    view: ViewBase, job: Any, csrf: str, return_url: str, compact: bool = True
) -> Markup:
    """The retry / cancel / delete forms the user may use on ``job`` in its status."""
    forms = _button_forms(view, csrf, return_url, compact)
    return Markup(_buttons(view.can, job, lambda f: f(str(job.id)), forms))


def _buttons(
    can: Callable[[str, Any], bool], job: Any, call: Callable[[Any], str], forms: tuple[Any, ...]
) -> str:
    # Plain strings throughout: ``str + Markup`` would escape the str.
    status = job.status
    html = ""
    if status in _RETRYABLE and can("retry", job):
        html += str(call(forms[0]))
    if status in _CANCELLABLE and can("cancel", job):
        html += str(call(forms[1]))
    if status in _DELETABLE and can("delete", job):
        html += str(call(forms[2]))
    return html


# -- the list's rows ------------------------------------------------------------------------


class ListRows:
    """What the rows of one list page share: links, forms and settings rendered once.

    The list template gets it as ``jobs_admin_rows`` (from
    :meth:`~jobs_admin.admin._list.ListMixin.render`) and prints each row with :meth:`row`;
    the cell formatters of this module read their links from it.

    :param view: the jobs view.
    :param return_url: the page's own URL (links and forms bring the user back to it).
    :param csrf: the page's CSRF token for the row forms.
    :param answers: the request's permission answers (the buttons are gated per job).
    """

    def __init__(self, view: ViewBase, return_url: str, csrf: str, answers: Answers) -> None:
        self.view = view
        self.can = answers.can
        self.stale_after = view.jobs.settings().stale_after
        self.select_title = str(escape(gettext("Select record")))
        # Flask-Admin's cell: ``<td class="col-{{ c }}">{{ get_value(row, c) }}</td>``.
        self.columns = [(c, f'<td class="col-{escape(c)}">') for c, _name in view._list_columns]

        def details(n: str) -> str:
            return str(escape(view.get_url(".details_view", id=int(n), url=return_url)))

        self.details = id_pattern(details, 1)
        self.id_link = id_pattern(
            lambda n: (
                f'<a href="{details(n)}" data-jobs-admin-job="{n}" class="text-monospace">#{n}</a>'
            ),
            3,
        )
        self.view_link = id_pattern(
            lambda n: (
                f'<a class="btn btn-sm btn-outline-secondary" href="{details(n)}" '
                f'title="View job {n}" aria-label="View job {n}">'
                '<span class="fa fa-eye"></span></a>'
            ),
            3,
        )
        forms = _button_forms(view, csrf, return_url, True)
        # The id's places: the URL and the title twice (button title and label); the confirm.
        self.forms = tuple(id_pattern(f, n) for f, n in zip(forms, (3, 4, 4), strict=True))

    @pass_context
    def row(self, context: Any, job: Any, bulk: Any) -> Markup:
        """A row's cells, in Flask-Admin's markup: the checkbox (when there are ``bulk``
        actions), the buttons of :meth:`actions`, then a cell per column."""
        html = []
        if bulk:
            html.append(
                '<td>\n    <input type="checkbox" name="rowid" class="action-checkbox" '
                f'value="{escape(self.view.get_pk_value(job))}" title="{self.select_title}" />'
                "\n  </td>"
            )
        if self.view.column_display_actions:
            html.append(f'<td class="list-buttons-column">\n  {self.actions(job)}\n  </td>')
        # The cells: ``get_list_value``, so the view's ``column_formatters``, of each column.
        value = self.view.get_list_value
        html.extend(f"{td}{escape(value(context, job, c))}</td>" for c, td in self.columns)
        return Markup("\n  ".join(html))

    def actions(self, job: Any) -> str:
        """The row's buttons: view, then retry / cancel / delete as allowed."""
        job_id = job.id
        buttons = _buttons(self.can, job, lambda f: f(job_id), self.forms)
        return f"{self.view_link(job_id)}\n  {buttons}"


# Column formatters of the list (``JobView.column_formatters``): (view, context, job, name).


def _rows(context: Any) -> ListRows:
    rows: ListRows = context.resolve("jobs_admin_rows")
    return rows


def id_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """``#42``, linking to the detail page (the live script finds rows by it)."""
    return Markup(_rows(context).id_link(job.id))


def name_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The job's name (or type), linking to the detail page, and its type badge."""
    return Markup(
        f'<a href="{_rows(context).details(job.id)}">{escape(job.name or job.type)}</a>\n'
        f'  <span class="badge badge-secondary jobs-admin-type">{escape(job.type)}</span>'
    )


def status_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The status badge (with the error, a lost worker and the phase)."""
    stale = job.status == "running" and view.stale(job, _rows(context).stale_after)
    return status_badge(job.status, job.phase, job.error, stale)


def progress_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The small progress bar."""
    return progress(job)


def created_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """When the job was created, relative."""
    return time(job.created_at)


def duration_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """How long it ran; a running job's ticks on in the browser from ``data-started``."""
    running = job.status == "running"
    started = (
        f' data-started="{escape(job.started_at.isoformat())}"'
        if running and job.started_at
        else ""
    )
    return Markup(
        f'<span class="jobs-admin-duration{" text-primary" if running else ""}"{started}>'
        f"{escape(fmt.seconds(job.duration))}</span>"
    )


def reference_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The job's reference, or nothing."""
    return escape(job.reference or "")
