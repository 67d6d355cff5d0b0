"""The list's optional columns: what each shows, and which of them a page shows at first.

A user shows or hides them with the list's "Columns" menu (remembered per browser); the host
sets those shown before a user chooses with ``column_optional_default`` on the view. Each cell is
built here in Python, as the other cells are (:mod:`._html`), and ``jobs_admin_live.js`` fills
them from the live updates the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

from ..i18n import format_number, gettext, lazy_gettext
from . import _html

if TYPE_CHECKING:
    from ._base import ViewBase

#: Every optional column: name -> its header.
OPTIONAL: dict[str, Any] = {
    "message": lazy_gettext("Message"),
    "started_at": lazy_gettext("Started"),
    "updated_at": lazy_gettext("Last updated"),
    "updated_by": lazy_gettext("Updated by"),
    "percent": lazy_gettext("Progress %"),
    "items": lazy_gettext("Items"),
    "attempts": lazy_gettext("Attempts"),
    "priority": lazy_gettext("Priority"),
    "worker": lazy_gettext("Worker"),
}

#: Characters of a job's message its cell shows (the whole message on hover).
MESSAGE_CHARS = 80

_NONE = '<span class="text-muted">—</span>'


def message_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The job's last message, cut short (whole on hover)."""
    if not job.message:
        return Markup(_NONE)
    short = do_truncate(current_app.jinja_env, job.message, MESSAGE_CHARS, True)
    return Markup(
        f'<span class="jobs-admin-message" title="{escape(job.message)}">{escape(short)}</span>'
    )


def started_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """When the job (last) started, relative."""
    return _html.time(job.started_at)


def updated_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """When the job last changed, relative."""
    return _html.time(job.updated_at)


def updated_by_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """Who last acted on the job (retried, cancelled it)."""
    return escape(job.updated_by) if job.updated_by else Markup(_NONE)


def percent_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """Its progress in percent (done and failed items both count)."""
    percent = job.percent
    return Markup(_NONE) if percent is None else Markup(f"{percent:.0f}%")


def items_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """Items done of the total: "45 of 100"."""
    done = job.progress_done or 0
    if job.progress_total:
        said = gettext(
            "%(done)s of %(total)s",
            done=format_number(done),
            total=format_number(job.progress_total),
        )
        return Markup(escape(said))
    return Markup(escape(format_number(done))) if done else Markup(_NONE)


def attempts_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """Runs started of those allowed: "1 of 3"."""
    said = gettext("%(done)s of %(total)s", done=job.attempts or 0, total=job.max_attempts or 0)
    return Markup(escape(said))


def priority_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The job's priority (higher runs first)."""
    return Markup(str(int(job.priority or 0)))


def worker_cell(view: ViewBase, context: Any, job: Any, name: str) -> Markup:
    """The worker running (or that last ran) the job."""
    if not job.worker:
        return Markup(_NONE)
    return Markup(f'<span class="text-monospace small">{escape(job.worker)}</span>')


#: The optional columns' formatters (part of ``JobView.column_formatters``).
FORMATTERS = {
    "message": message_cell,
    "started_at": started_cell,
    "updated_at": updated_cell,
    "updated_by": updated_by_cell,
    "percent": percent_cell,
    "items": items_cell,
    "attempts": attempts_cell,
    "priority": priority_cell,
    "worker": worker_cell,
}


class OptionalColumnsMixin:
    """``column_optional`` (the columns a user may add) and ``column_optional_default`` (those
    shown until the user chooses), after the view's ``column_list``."""

    #: The optional columns a user may show, in the order the table puts them after
    #: ``column_list``: names of :data:`OPTIONAL` or of the host's own columns (give those a
    #: label in ``column_labels`` and a formatter if they need one).
    column_optional: tuple[str, ...] = tuple(OPTIONAL)
    #: Of ``column_optional``, those shown to a user who has not chosen yet.
    column_optional_default: tuple[str, ...] = ()

    column_list: Any

    def get_list_columns(self) -> list[tuple[str, str]]:
        columns: list[tuple[str, str]] = super().get_list_columns()  # type: ignore[misc]
        listed = {c for c, _ in columns}
        get_name = self.get_column_name  # type: ignore[attr-defined]
        columns += [(c, get_name(c)) for c in self.column_optional if c not in listed]
        return columns

    def optional_columns(self) -> list[tuple[str, str, bool]]:
        """(name, header, shown by default) of each optional column not in ``column_list``."""
        listed = set(self.column_list or ())
        default = set(self.column_optional_default)
        get_name = self.get_column_name  # type: ignore[attr-defined]
        return [(c, get_name(c), c in default) for c in self.column_optional if c not in listed]
