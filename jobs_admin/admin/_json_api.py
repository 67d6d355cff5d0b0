"""The job view's JSON API: ``api/jobs``, ``api/jobs/<id>`` and ``api/counts``.

Same session and permissions as the pages: a request without a signed-in user gets 401, one
without ``view`` 403, both with a JSON body (never a redirect to the login page); a bad argument
gets 400 with a message naming it. A user without ``view_all`` sees only their own jobs, and a
host's ``@jobs.visible_jobs`` condition applies as on the list.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_admin import expose

from .. import permissions as perms
from . import _details
from ._api_args import BadArgument, parse_list_args
from ._api_jobs import iso, job_json, page
from ._base import _MAX_ID
from ._list import ListMixin

#: The view functions of this API (Flask-Admin passes their names to ``inaccessible_callback``).
API_VIEWS = frozenset({"api_jobs", "api_job", "api_counts", "panel_fragment", "my_jobs_fragment"})

#: Log lines ``api/jobs/<id>`` returns (the newest).
LOG_LINES = 50
#: Failed items ``api/jobs/<id>`` returns (the first).
FAILED_ITEMS = 50


def error(status: int, message: str, argument: str | None = None) -> Response:
    """A JSON error answer: ``{"error": {"status": .., "message": .., "argument": ..}}``."""
    body: dict[str, Any] = {"status": status, "message": message}
    if argument is not None:
        body["argument"] = argument
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _no_store(response: Response) -> Response:
    # A user's jobs: never kept by a shared cache, nor by the browser for the next user.
    response.headers["Cache-Control"] = "no-store"
    return response


class JsonApiMixin(ListMixin):
    """The JSON API of the job view (see the module's docstring)."""

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if name not in API_VIEWS:
            return super().inaccessible_callback(name, **kwargs)
        if self.user is None:
            return error(401, "sign in to the admin first")
        if not self.jobs.has_permission_checker:
            return error(403, "no permission checker is registered (see @jobs.permission_checker)")
        return error(403, "the 'view' permission is needed")

    def _job_url(self, job_id: int) -> str:
        return str(self.get_url(".details_view", id=job_id))

    def job_json(self, job: Any) -> dict[str, Any]:
        """``job`` as the API returns it in lists."""
        return job_json(self.jobs, job, self._job_url(job.id))

    @expose("/api/jobs")
    def api_jobs(self) -> Response:
        """The jobs the user may see, filtered, newest first: ``{"jobs": [...], "next": ..}``."""
        try:
            args = parse_list_args(request.args, (t.name for t in self.jobs.registry))
        except BadArgument as exc:
            return error(400, str(exc), exc.name)
        visible, _host = self._visibility()
        rows, cursor = page(self.jobs, visible, args, lambda job: self.can(perms.VIEW, job))
        return _no_store(jsonify({"jobs": [self.job_json(j) for j in rows], "next": cursor}))

    @expose("/api/jobs/<job_id>")
    def api_job(self, job_id: str) -> Response:
        """One job with its steps, progress, last log lines and failed items."""
        try:
            number = int(job_id)
        except ValueError:
            return error(400, "id: not a job id", "id")
        if not 0 < number <= _MAX_ID:
            return error(400, "id: not a job id", "id")
        job = self.get_one(number)
        if job is None:
            return error(404, f"job {number} does not exist or you may not see it")
        info = _details.collect(
            self.jobs,
            job,
            visible=self._visibility()[0],
            may_see=lambda row: self.can(perms.VIEW, row),
        )
        data = self.job_json(job)
        data.update(
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            cancel_requested=bool(job.cancel_requested),
            updated_at=iso(job.updated_at),
            params=job.params,
            result=job.result,
            download_url=(
                str(self.get_url(".download", job_id=job.id)) if job.result_file else None
            ),
            retry_of=job.retry_of,
            steps=[
                {"name": s.name, "at": iso(s.at), "seconds": s.seconds, "current": s.current}
                for s in info.steps
            ],
            logs=[
                {"at": iso(ev.at), "level": ev.level, "message": ev.message}
                for ev in info.logs[-LOG_LINES:]
            ],
            logs_total=info.logs_total,
            failed_items=[
                {"at": iso(ev.at), "key": (ev.data or {}).get("key"), "message": ev.message}
                for ev in info.failed_items[:FAILED_ITEMS]
            ],
            failed_items_total=info.failed_total,
        )
        # The traceback names the server's files and code: for those who see every job only.
        if self.sees_all():
            data["traceback"] = job.traceback
        return _no_store(jsonify(data))

    @expose("/api/counts")
    def api_counts(self) -> Response:
        """The KPI tiles' counts for this user (``counts``) and of their own jobs (``mine``)."""
        own = self.jobs.identity(self.user) or ""
        return _no_store(jsonify({"counts": self.kpis(), "mine": self._counts(own), "user": own}))
