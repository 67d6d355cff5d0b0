"""The Insights page (``<jobs url>/insights/``): throughput, failure rate and run times charted
from the rollups of job ends, never from the jobs table.

Needs ``view``; a user without ``view_all`` sees the figures of their own jobs only. The page
renders the per-type table and the first chart data; ``data`` answers the same figures as JSON
for the range and type picked, and the page asks it again while open, so the current interval
grows without a reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import flash, jsonify, request, url_for
from flask_admin import BaseView, expose
from markupsafe import Markup

from .. import permissions as perms
from ..stats.reads import DEFAULT_RANGE, END_STATUSES, RANGES
from ._base import clip, request_answers

if TYPE_CHECKING:
    from ..extension import JobsAdmin


class InsightsView(BaseView):
    """Charts of job ends over time, by status and type.

    :param jobs: the extension whose jobs this view charts.
    """

    def __init__(self, jobs: JobsAdmin, **kwargs: Any) -> None:
        self.jobs = jobs
        super().__init__(**kwargs)

    # -- access ----------------------------------------------------------------------------

    def is_accessible(self) -> bool:
        return request_answers(self.jobs).can(perms.VIEW)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        from flask import abort, current_app

        if self.jobs.get_current_user() is None:
            login_manager = getattr(current_app, "login_manager", None)
            if login_manager is not None and login_manager.login_view:
                return login_manager.unauthorized()
        return abort(403)

    def _scope(self) -> Any:
        """The user whose jobs are charted (``None``: everyone's, for ``view_all``)."""
        user = self.jobs.get_current_user()
        return None if request_answers(self.jobs).can(perms.VIEW_ALL) else user

    def _args(self, warn: bool) -> tuple[str, str | None]:
        """The valid ``range`` and ``type`` of the request; an invalid one is ignored (with a
        message when ``warn``)."""
        range_key = request.args.get("range", DEFAULT_RANGE)
        if range_key not in RANGES:
            if warn:
                flash(f"Unknown range {clip(range_key)!r}: showing {DEFAULT_RANGE}.", "warning")
            range_key = DEFAULT_RANGE
        type_ = request.args.get("type") or None
        if type_ is not None and type_ not in self.jobs.registry:
            if warn:
                flash(f"Unknown job type {clip(type_)!r}: showing all types.", "warning")
            type_ = None
        return range_key, type_

    # -- pages -----------------------------------------------------------------------------

    @expose("/")
    def index(self) -> Any:
        range_key, type_ = self._args(warn=True)
        data = self.jobs.insights(range_key, type_=type_, user=self._scope())
        return self.render(
            "jobs_admin/insights.html",
            data=data,
            ranges=RANGES,
            range_key=range_key,
            type_=type_,
            types=[(t.name, t.title) for t in self.jobs.registry],
            statuses=END_STATUSES,
            data_url=url_for(".data"),
            list_url=self.jobs_list_url(),
            sees_all=self._scope() is None,
        )

    @expose("/data")
    def data(self) -> Any:
        range_key, type_ = self._args(warn=False)
        response = jsonify(self.jobs.insights(range_key, type_=type_, user=self._scope()))
        response.headers["Cache-Control"] = "no-store"
        return response

    def jobs_list_url(self) -> str:
        """The jobs list's URL (the charts' points link to it with filters)."""
        return str(url_for("jobs.index_view"))


def sparkline(jobs: JobsAdmin) -> Markup:
    """A small SVG of the jobs finished per 15 minutes over 24 h (the user's own without
    ``view_all``), linking to the Insights page: shown above the list's tiles.

    :param jobs: the extension.
    """
    user = None if request_answers(jobs).can(perms.VIEW_ALL) else jobs.get_current_user()
    data = jobs.insights("24h", user=user)
    totals = [sum(col) for col in zip(*data["counts"].values(), strict=True)]
    failed = sum(data["counts"]["failed"])
    width, height = 160, 24
    top = max(totals) or 1
    step = width / max(len(totals) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 1 - (n / top) * (height - 2):.1f}" for i, n in enumerate(totals)
    )
    title = f"{sum(totals):,} jobs finished in 24 h ({failed:,} failed): open Insights"
    return Markup(
        '<a class="jobs-admin-sparkline small text-muted" href="{url}" title="{title}">'
        '<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/>'
        "</svg> {total} finished in 24 h</a>"
    ).format(
        url=url_for("jobs_insights.index", range="24h"),
        title=title,
        w=width,
        h=height,
        points=points,
        total=f"{sum(totals):,}",
    )
