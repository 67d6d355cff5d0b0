"""The job view's downloads: the CSV export of the list and a job's result file."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Response, flash, redirect, send_file
from flask_admin import expose
from werkzeug.utils import secure_filename

from .. import permissions as perms
from ..export import Limited, export_body
from ..i18n import gettext
from ._base import ViewBase

log = logging.getLogger("jobs_admin.admin")


class ExportMixin(ViewBase):
    """``<view>/export.csv`` (what the list shows, as CSV) and ``<view>/<id>/download``."""

    @expose("/<int:job_id>/download")
    def download(self, job_id: int) -> Any:
        job = self.get_one(job_id)
        if job is None or not job.result_file:
            flash(gettext("That job has no result file you may download."), "error")
            return self._back()
        root = self.jobs.settings().results_dir.resolve()
        try:
            path = (root / job.result_file).resolve()
            found = path.is_relative_to(root) and path.is_file()
        except (OSError, ValueError):  # a stored name no file can have (a NUL in it)
            found = False
        if not found:
            flash(gettext("The result file of job %(id)s is missing.", id=job_id), "error")
            return self._back()
        # Names stored before ctx.result_file refused control characters: a CR/LF must not
        # reach the Content-Disposition header (a 500).
        name = secure_filename(path.name) or "result"
        return send_file(path, as_attachment=True, download_name=name)

    @expose("/export.csv")
    def export_csv(self) -> Any:
        if not self.jobs.can(perms.EXPORT):
            flash(gettext("You do not have the 'export' permission."), "error")
            return redirect(self.get_url(".index_view"))
        view_args = self._get_list_extra_args()
        sort = self._get_column_by_idx(view_args.sort)
        query = self._filtered(view_args.search, view_args.filters)
        query, _ = self._apply_sorting(query, {}, sort[0] if sort else None, view_args.sort_desc)
        j = self.model
        columns = query.with_entities(
            j.id,
            j.name,
            j.type,
            j.status,
            j.created_at,
            j.started_at,
            j.finished_at,
            j.created_by,
            j.reference,
            j.error,
        )
        session = self.jobs.db.session
        try:
            # The first match now, the way the list page looks for its rows: a filter or
            # search the database refuses becomes a message instead of a 200 whose body ends
            # after the header.
            session.execute(columns.order_by(None).limit(1).statement).all()
        except sa.exc.SQLAlchemyError as exc:
            session.rollback()
            log.exception("jobs_admin export failed")
            flash(
                gettext(
                    "The export failed: %(error)s. Nothing was exported.",
                    error=type(exc).__name__,
                ),
                "error",
            )
            return redirect(self.get_url(".index_view"))
        release = self.jobs.export_slot()
        if release is None:
            limit = self.jobs.settings().max_exports
            flash(
                gettext(
                    "%(num)s exports are being downloaded already; try again when one has"
                    " finished.",
                    num=limit,
                ),
                "warning",
            )
            return redirect(self.get_url(".index_view"))
        body = export_body(session.get_bind(mapper=self.model), columns.statement)
        return Response(
            Limited(body, release),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="jobs-export.csv"'},
        )
