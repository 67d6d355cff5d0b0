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
from flask_admin.model import BaseModelView
from jinja2 import pass_context
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

from ..i18n import gettext as _
from ..i18n import lazy_gettext, status_label
from ..models import BADGES, JobStatus
from ..service._flow import held_label
from ..store import PAUSED
from . import format as fmt
from ._buttons import MARK, Buttons, IdPattern, action_form, id_pattern

__all__ = ["MARK", "IdPattern", "action_form", "id_pattern"]

if TYPE_CHECKING:
    from ..permissions import Answers
    from ._base import ViewBase

_BADGES = {s.value: BADGES[s] for s in JobStatus}


# -- pieces shared with the detail page (the macros of _macros.html call these) ---------------


#: Why a job is paused, when its "paused: ..." event is not at hand (mirrored in
#: jobs_admin_live.js).
PAUSED_WHY = lazy_gettext(
    "Its worker shut down while it ran; the next worker resumes it where it stopped."
)


def paused_badge(reason: str | None = None) -> str:
    """The grey label of a pending job its worker handed back at shutdown, the reason on hover.

    :param reason: its last "paused: ..." event ("paused: web-1 shut down").
    """
    why = f"{reason[:1].upper()}{reason[1:]}. {PAUSED_WHY}" if reason else str(PAUSED_WHY)
    return (
        f'<span class="badge badge-secondary jobs-admin-paused" title="{escape(why)}">'
        f"{escape(_('Paused'))}</span>"
    )


def status_badge(
    status: Any,
    phase: Any = None,
    error: Any = None,
    stale: bool = False,
    paused: str | None = None,
    held: str | None = None,
) -> Markup:
    """A job's status badge, with its error icon, "worker lost?" badge and phase.

    :param paused: a paused job's reason (its last "paused: ..." event), shown on hover.
    :param held: the phase of a pending job flow control holds back (its type paused, or a
        limit of its type reached): "Paused", "Waiting: max concurrency 2".
    """
    html = (
        f'<span class="badge {escape(_BADGES.get(status, "badge-light"))} jobs-admin-status" '
        f'data-status="{escape(status)}">{escape(status_label(status))}</span>'
    )
    if status == "failed" and error:
        short = escape(do_truncate(current_app.jinja_env, error, 300))
        html += (
            '\n    <span class="fa fa-exclamation-circle text-danger jobs-admin-error-icon" '
            f'title="{short}" aria-label="{escape(_("Error:"))} {short}"></span>'
        )
    if stale:
        html += (
            '\n    <span class="badge badge-warning jobs-admin-stale" title="'
            + escape(_("No heartbeat for a while; the rescue will requeue or fail this job."))
            + '">'
            + escape(_("worker lost?"))
            + "</span>"
        )
    if status == "running" and phase:
        html += f'\n    <div class="small text-muted jobs-admin-phase">{escape(phase)}</div>'
    if status == "pending" and phase == PAUSED:
        html += f"\n    {paused_badge(paused)}"
    elif status == "pending" and held:
        html += f"\n    {held_badge(held)}"
    return Markup(html)


def held_badge(phase: str) -> str:
    """The label of a pending job that flow control holds back (see :func:`status_badge`)."""
    if phase == PAUSED:
        why = _("Its job type is paused (Jobs > Job types); it runs once resumed.")
        css = "secondary"
    else:
        why = _("A limit of its job type holds it back for now (Jobs > Job types).")
        css = "light"
    return (
        f'<span class="badge badge-{css} jobs-admin-held" title="{escape(why)}">'
        f"{escape(held_label(phase))}</span>"
    )


def progress(job: Any, big: bool = False) -> Markup:
    """A job's progress bar with its figures (``done/total · n failed``)."""
    total = job.progress_total or 0
    done = job.progress_done or 0
    failed = job.progress_failed or 0
    tail = (
        f' · <span class="text-danger">{escape(_("%(num)s failed", num=failed))}</span>'
        if failed
        else ""
    )
    if total:
        striped = " progress-bar-striped progress-bar-animated" if job.status == "running" else ""
        return Markup(
            f'<div class="jobs-admin-progress" data-job-progress="{escape(job.id)}">\n'
            f'    <div class="progress{"" if big else " jobs-admin-progress-sm"}" '
            f'role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
            f'aria-valuenow="{done + failed}" '
            f'aria-label="{escape(_("%(done)s of %(total)s done", done=done, total=total))}">\n'
            f'      <div class="progress-bar bg-success{striped}" '
            f'style="width: {100.0 * done / total:.1f}%"></div>\n'
            f'      <div class="progress-bar bg-danger" '
            f'style="width: {100.0 * failed / total:.1f}%"></div>\n'
            "    </div>\n"
            f'    <small class="text-muted">{done}/{total}{tail}</small>\n'
            "  </div>"
        )
    if done or failed:
        said = escape(_("%(num)s done", num=done))
        return Markup(f'<small class="text-muted">{said}{tail}</small>')
    return Markup('<small class="text-muted">—</small>')


def time(value: Any) -> Markup:
    """A ``<time>`` saying how long ago ``value`` was (its UTC timestamp as the title), or —."""
    if not value:
        return Markup("—")
    return Markup(
        f'<time datetime="{escape(value.isoformat())}" title="{escape(fmt.utc(value))}" '
        f'class="jobs-admin-time">{escape(fmt.relative_time(value))}</time>'
    )


def job_buttons(
    view: ViewBase, job: Any, csrf: str, return_url: str, compact: bool = True
) -> Markup:
    """The buttons the user may use on ``job`` in its status (:class:`._buttons.Buttons`)."""
    buttons = Buttons(view, csrf, return_url, compact)
    # The detail page offers its download in its header, with the file's name.
    return Markup(buttons.html(view.can, job, download=compact))


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
    :param paused: job id -> why it is paused (its last "paused: ..." event), for the paused
        jobs among the rows.
    """

    def __init__(
        self,
        view: ViewBase,
        return_url: str,
        csrf: str,
        answers: Answers,
        paused: dict[int, str] | None = None,
    ) -> None:
        self.view = view
        self.can = answers.can
        self.paused = paused or {}
        self._held: dict[str, str] | None = None
        self.stale_after = view.jobs.settings().stale_after
        self.select_title = str(escape(gettext("Select record")))
        # Flask-Admin's cell: ``<td class="col-{{ c }}">{{ get_value(row, c) }}</td>``.
        self.columns = [(c, f'<td class="col-{escape(c)}">') for c, _name in view._list_columns]
        self.values = {c: self._value_of(c) for c, _td in self.columns}

        def details(n: str) -> str:
            return str(escape(view.get_url(".details_view", id=int(n), url=return_url)))

        self.details = id_pattern(details, 1)
        self.id_link = id_pattern(
            lambda n: (
                f'<a href="{details(n)}" data-jobs-admin-job="{n}" class="text-monospace">#{n}</a>'
            ),
            3,
        )

        def view_said(n: str) -> str:
            return str(escape(_("View job %(id)s", id=n)))

        self.view_link = id_pattern(
            lambda n: (
                f'<a class="btn btn-sm btn-outline-secondary" href="{details(n)}" '
                f'title="{view_said(n)}" aria-label="{view_said(n)}">'
                '<span class="fa fa-eye"></span></a>'
            ),
            3,
        )
        self.buttons = Buttons(view, csrf, return_url, True)

    def held(self) -> dict[str, str]:
        """Job type -> the phase flow control gives its pending jobs (read once per page)."""
        if self._held is None:
            self._held = self.view.jobs.held_phases()
        return self._held

    def resolve(self, name: str) -> Any:
        """Stands in for a template context outside a template (the row refresh's cells): the
        formatters ask it for ``jobs_admin_rows``."""
        if name != "jobs_admin_rows":
            raise KeyError(name)
        return self

    def cells(self, job: Any) -> dict[str, str]:
        """Each column's cell content of ``job``, outside a template (the row refresh)."""
        return {c: str(escape(self.values[c](self, job, c))) for c, _td in self.columns}

    def _value_of(self, column: str) -> Callable[[Any, Any, str], Any]:
        """How a cell's value is got: ``get_list_value`` (what Flask-Admin's template calls),
        or, when that would only call the column's formatter, the formatter itself (a page of
        250 rows of 17 columns makes 4,250 such calls)."""
        view = self.view
        formatter = view.column_formatters.get(column)
        plain = (
            formatter is not None
            and type(view).get_list_value is BaseModelView.get_list_value
            and not view._column_choices_map.get(column)
            # A Markup value (what the formatters return) is a str: only a str formatter applies.
            and not any(issubclass(Markup, t) for t in view.column_type_formatters)
        )
        if plain:
            return lambda context, job, name: formatter(view, context, job, name)
        return view.get_list_value

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
        values = self.values
        html.extend(f"{td}{escape(values[c](context, job, c))}</td>" for c, td in self.columns)
        return Markup("\n  ".join(html))

    def actions(self, job: Any) -> str:
        """The row's buttons: view, then download / retry / cancel / delete as allowed."""
        return f"{self.view_link(job.id)}\n  {self.buttons.html(self.can, job)}"


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
    rows = _rows(context)
    stale = job.status == "running" and view.stale(job, rows.stale_after)
    held = rows.held().get(job.type) if job.status == "pending" else None
    return status_badge(job.status, job.phase, job.error, stale, rows.paused.get(job.id), held)


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
