"""``<view>/<id>/preview``: a job's HTML result shown in the browser, sandboxed.

A result is whatever the job wrote, and it is served from the admin's own origin: unsandboxed,
a ``<script>`` in it would run as the admin looking at it. Every preview response therefore
carries ``Content-Security-Policy: sandbox`` (a unique origin, no scripts, no forms, no
pop-ups) and ``X-Content-Type-Options: nosniff``.

An ``.html`` result file is shown as it is. A ``.zip`` result is shown when its type names the
page to open (``preview="index.html"``): ``/preview`` redirects to ``/preview/index.html``, so
that the page's relative links (its CSS, images, other pages) resolve to members of the ZIP.
"""

from __future__ import annotations

import mimetypes
import zipfile
from pathlib import Path
from typing import Any

from flask import Response, flash, redirect, send_file
from flask_admin import expose

from ..i18n import gettext
from ._base import ViewBase

#: What every preview response says: no scripts, no same origin, no sniffing, no caching.
PREVIEW_HEADERS = {
    "Content-Security-Policy": "sandbox",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}

#: Result file suffixes shown as a page.
HTML_SUFFIXES = (".html", ".htm")

#: The largest ZIP member the preview unpacks (a ZIP bomb's member is refused).
MAX_MEMBER_BYTES = 20 * 1024 * 1024


def previewable(job: Any, job_type: Any) -> bool:
    """Whether ``job``'s result file can be previewed: HTML, or a ZIP its type names a page of.

    :param job: the job.
    :param job_type: its :class:`~jobs_admin.registry.JobType`, or ``None``.
    """
    name = (job.result_file or "").lower()
    if name.endswith(HTML_SUFFIXES):
        return True
    return name.endswith(".zip") and bool(getattr(job_type, "preview", None))


def _sandboxed(response: Response) -> Response:
    response.headers.update(PREVIEW_HEADERS)
    return response


class PreviewMixin(ViewBase):
    """``<view>/<id>/preview`` and ``<view>/<id>/preview/<member>``."""

    def _preview_file(self, job_id: int) -> tuple[Any, Path | None]:
        """The job (``None``: not visible) and its result file's path (``None``: missing)."""
        job = self.get_one(job_id)
        if job is None or not job.result_file:
            return job, None
        root = self.jobs.settings().results_dir.resolve()
        try:
            path = (root / job.result_file).resolve()
            found = path.is_relative_to(root) and path.is_file()
        except (OSError, ValueError):
            found = False
        return job, path if found else None

    def _job_type(self, job: Any) -> Any:
        return self.jobs.registry.get(job.type) if job.type in self.jobs.registry else None

    @expose("/<int:job_id>/preview")
    def preview(self, job_id: int) -> Any:
        job, path = self._preview_file(job_id)
        job_type = None if job is None else self._job_type(job)
        if job is None or path is None or not previewable(job, job_type):
            flash(gettext("That job has no HTML result you may view."), "error")
            return self._back()
        if path.suffix.lower() == ".zip" and job_type is not None:
            return redirect(self.get_url(".preview_member", job_id=job.id, member=job_type.preview))
        response = send_file(path, mimetype="text/html", as_attachment=False, max_age=0)
        return _sandboxed(response)

    @expose("/<int:job_id>/preview/<path:member>")
    def preview_member(self, job_id: int, member: str) -> Any:
        job, path = self._preview_file(job_id)
        job_type = None if job is None else self._job_type(job)
        if (
            job is None
            or path is None
            or path.suffix.lower() != ".zip"
            or not previewable(job, job_type)
        ):
            flash(gettext("That job has no HTML result you may view."), "error")
            return self._back()
        try:
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo(member)  # exact names only: no path is built from it
                if info.is_dir() or info.file_size > MAX_MEMBER_BYTES:
                    raise KeyError(member)
                data = archive.read(info)
        except (KeyError, zipfile.BadZipFile, OSError):
            return _sandboxed(Response("Not in this job's result.", 404, mimetype="text/plain"))
        mimetype = mimetypes.guess_type(member)[0] or "application/octet-stream"
        if mimetype.startswith("text/"):
            mimetype += "; charset=utf-8"
        return _sandboxed(Response(data, mimetype=mimetype))
