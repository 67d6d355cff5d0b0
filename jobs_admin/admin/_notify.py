"""Telling the user that a job they started has started: the flash after Run, Retry and
Retry failed items, and the small JSON state the page polls to show a toast when a worker
picks the job up.

The flash names the job, links to it and carries a hidden marker
(``<span class="jobs-admin-watch" data-state="<view>/<id>/state.json">``); ``jobs_admin_notify.js``
polls that URL for a few seconds and shows a toast once the job has left ``pending``.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_admin import expose
from markupsafe import Markup

from ._base import ViewBase


def started_flash(view: ViewBase, job: Any, text: str) -> Markup:
    """A flash that names and links ``job`` and asks the page to watch it start.

    :param view: the job view (for its URLs).
    :param job: the job queued.
    :param text: what happened, with ``{job}`` where the linked job goes ("Started {job}.").
    """
    link = Markup('<a href="{}">#{} {}</a>').format(
        view.get_url(".details_view", id=job.id), job.id, job.name or job.type
    )
    marker = Markup('<span class="jobs-admin-watch" data-state="{}" hidden></span>').format(
        view.get_url(".job_state", job_id=job.id)
    )
    return Markup(Markup.escape(text).replace("{job}", link)) + marker


class NotifyMixin(ViewBase):
    """``<view>/<id>/state.json``: a job's status in a few fields, for the start toast."""

    @expose("/<int:job_id>/state.json")
    def job_state(self, job_id: int) -> Any:
        job = self.get_one(job_id)  # the view permission on this job, as the detail page
        if job is None:
            return jsonify({"error": "no such job, or you may not see it"}), 404
        response = jsonify(
            {
                "id": job.id,
                "name": job.name or job.type,
                "status": job.status,
                "phase": job.phase,
                "url": self.get_url(".details_view", id=job.id),
            }
        )
        response.headers["Cache-Control"] = "no-store"
        return response
