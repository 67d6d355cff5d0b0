"""A job's action buttons (view, download, retry, retry failed items, cancel, delete), as the
list's rows, the detail page and the list's row refresh (``<view>/rows``) print them.

Which buttons a job gets follows its status, whether it has a result file and whether its type
can rerun only its failed items, each gated by the user's permission on that job; the server
decides, never the page's script. Cancel and delete carry what their confirmation dialog says
(``data-confirm-*``, read by ``jobs_admin.js``); without JavaScript the forms post directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from ..i18n import format_number, gettext, ngettext

if TYPE_CHECKING:
    from ._base import ViewBase

#: Stands for the job id while a pattern is rendered: digits, so that it passes through
#: ``url_for`` (an ``int`` route argument) and escaping unchanged.
MARK = "900719925474099"

RETRYABLE = ("failed", "partial", "cancelled")
CANCELLABLE = ("pending", "running")
DELETABLE = ("completed", "partial", "failed", "cancelled")


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


def confirm(title: str, body: str, yes: str, no: str, danger: bool = True) -> dict[str, str]:
    """What a form's confirmation dialog says: its title, text and two explicit buttons."""
    return {
        "confirm": body,
        "confirm-title": title,
        "confirm-yes": yes,
        "confirm-no": no,
        "confirm-class": "btn-danger" if danger else "btn-primary",
    }


def action_form(
    url: str,
    label: str,
    icon: str,
    btn: str,
    csrf: str,
    return_url: str,
    confirm: str | dict[str, str] | None = None,
    title: str | None = None,
) -> Markup:
    """A one-button POST form (with its CSRF token and the page to come back to).

    :param confirm: the confirmation dialog's text, or its parts (:func:`confirm`).
    :param title: the button's tooltip; given, the button shows only its icon.
    """
    said = escape(title or label)
    if isinstance(confirm, str):
        confirm = {"confirm": confirm}
    attrs = "".join(f' data-{k}="{escape(v)}"' for k, v in (confirm or {}).items())
    return Markup(
        f'<form method="POST" action="{escape(url)}" class="d-inline jobs-admin-action"{attrs}>\n'
        f'    <input type="hidden" name="csrf_token" value="{escape(csrf)}">\n'
        f'    <input type="hidden" name="url" value="{escape(return_url)}">\n'
        f'    <button type="submit" class="btn btn-sm {escape(btn)}" title="{said}" '
        f'aria-label="{said}"><span class="fa fa-{escape(icon)}"></span>'
        + ("" if title else f" {escape(label)}")
        + "</button>\n  </form>"
    )


def items_label(job: Any) -> tuple[str, str]:
    """The labels of a partial job's two retries: (all its items, only the failed ones)."""
    total = job.progress_total or (job.progress_done or 0) + (job.progress_failed or 0)
    failed = job.progress_failed or 0
    return (
        ngettext(
            "Retry all %(num)s item", "Retry all %(num)s items", total, num=format_number(total)
        ),
        ngettext(
            "Retry the %(num)s failed item",
            "Retry the %(num)s failed items",
            failed,
            num=format_number(failed),
        ),
    )


class Buttons:
    """The buttons of one page's jobs: their forms rendered once, each job's id slotted in.

    :param view: the jobs view.
    :param csrf: the page's CSRF token.
    :param return_url: where the forms bring the user back to.
    :param compact: icon buttons with a tooltip (the list) or labelled ones (the detail page).
    """

    def __init__(self, view: ViewBase, csrf: str, return_url: str, compact: bool) -> None:
        self.view = view
        self.csrf = csrf
        self.return_url = return_url
        self.compact = compact
        url = view.get_url

        def form(
            endpoint: str, label: str, icon: str, btn: str, said: Callable[[str], dict[str, str]]
        ) -> Callable[[str], str]:
            def render(n: str) -> str:
                return action_form(
                    url(endpoint, job_id=int(n)),
                    label,
                    icon,
                    btn,
                    csrf,
                    return_url,
                    confirm=said(n),
                    title=gettext("%(action)s job %(id)s", action=label, id=n) if compact else None,
                )

            return render

        stop = form(
            ".cancel_job",
            gettext("Cancel"),
            "stop",
            "btn-outline-warning",
            lambda n: confirm(
                gettext("Stop job #%(id)s?", id=n),
                gettext(
                    "Job #%(id)s stops after its current item. The items it has done are kept,"
                    " and it can be retried later.",
                    id=n,
                ),
                gettext("Stop job"),
                gettext("Keep running"),
            ),
        )
        unqueue = form(
            ".cancel_job",
            gettext("Cancel"),
            "stop",
            "btn-outline-warning",
            lambda n: confirm(
                gettext("Cancel job #%(id)s?", id=n),
                gettext(
                    "Job #%(id)s will not run. It stays in the list as cancelled and can be"
                    " retried later.",
                    id=n,
                ),
                gettext("Cancel job"),
                gettext("Keep it queued"),
            ),
        )
        delete = form(
            ".delete_job",
            gettext("Delete"),
            "trash",
            "btn-outline-danger",
            lambda n: confirm(
                gettext("Delete job #%(id)s?", id=n),
                gettext(
                    "Job #%(id)s is deleted with its log and result file. This cannot be undone.",
                    id=n,
                ),
                gettext("Delete job"),
                gettext("Keep"),
            ),
        )
        retry = form(".retry_job", gettext("Retry"), "repeat", "btn-outline-primary", lambda n: {})
        # The id's places: the URL, the button's title and label twice when compact, and the
        # dialog's title and text (twice each for cancel and delete).
        tip = 2 if compact else 0
        self.retry = id_pattern(retry, 1 + tip)
        self.stop = id_pattern(stop, 3 + tip)
        self.unqueue = id_pattern(unqueue, 3 + tip)
        self.delete = id_pattern(delete, 3 + tip)

        def download(n: str) -> str:
            said = escape(gettext("Download the result of job %(id)s", id=n))
            return (
                f'<a class="btn btn-sm btn-outline-success jobs-admin-download" '
                f'href="{escape(url(".download", job_id=int(n)))}" download '
                f'title="{said}" aria-label="{said}"><span class="fa fa-download"></span></a>'
            )

        self.download = id_pattern(download, 3)

    def html(self, can: Callable[[str, Any], bool], job: Any, download: bool = True) -> str:
        """The buttons the user may use on ``job`` in its status, as plain text (``str +
        Markup`` would escape the str).

        :param download: include a Download link for a job with a result file.
        """
        status = job.status
        job_id = job.id
        html = ""
        if download and job.result_file and can("view", job):
            html += self.download(job_id)
        if status in RETRYABLE and can("retry", job):
            if status == "partial":
                html += self._partial(job)
            else:
                html += self.retry(job_id)
        if status in CANCELLABLE and can("cancel", job):
            html += self.stop(job_id) if status == "running" else self.unqueue(job_id)
        if status in DELETABLE and can("delete", job):
            html += self.delete(job_id)
        return html

    def _partial(self, job: Any) -> str:
        """A partial job's retries, labelled with what each reruns."""
        every, failed = items_label(job)
        registry = self.view.jobs.registry
        job_type = registry.get(job.type) if job.type in registry else None
        html = str(self._labelled(".retry_job", job.id, every, "repeat"))
        if job_type is not None and job_type.retry_items and job.progress_failed:
            html += str(self._labelled(".retry_items_job", job.id, failed, "refresh"))
        return html

    def _labelled(self, endpoint: str, job_id: int, label: str, icon: str) -> Markup:
        return action_form(
            self.view.get_url(endpoint, job_id=job_id),
            label,
            icon,
            "btn-outline-primary",
            self.csrf,
            self.return_url,
            title=gettext("%(action)s (job %(id)s)", action=label, id=job_id)
            if self.compact
            else None,
        )
