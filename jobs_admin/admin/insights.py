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
from flask_admin import expose
from markupsafe import Markup

from .. import permissions as perms
from ..i18n import format_number, gettext, ngettext, status_label
from ..stats.reads import DEFAULT_RANGE, END_STATUSES, RANGES, Range
from . import format as fmt
from ._base import clip, request_answers
from ._side import SideView

#: What the table shows for a figure without data (an en dash, as the charts do).
_NONE = "\u2013"

if TYPE_CHECKING:
    from ..extension import JobsAdmin


class InsightsView(SideView):
    """Charts of job ends over time, by status and type.

    :param jobs: the extension whose jobs this view charts.
    """

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
                flash(
                    gettext(
                        "Unknown range %(range)s: showing %(default)s.",
                        range=repr(clip(range_key)),
                        default=DEFAULT_RANGE,
                    ),
                    "warning",
                )
            range_key = DEFAULT_RANGE
        type_ = request.args.get("type") or None
        if type_ is not None and type_ not in self.jobs.registry:
            if warn:
                flash(
                    gettext(
                        "Unknown job type %(type)s: showing all types.", type=repr(clip(type_))
                    ),
                    "warning",
                )
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
            range_labels={key: range_label(r) for key, r in RANGES.items()},
            ends_title=ends_title(data["step"]),
            status_labels={s: status_label(s).lower() for s in END_STATUSES},
            num=format_number,
            secs=_secs,
            percent=_percent,
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


def range_label(r: Range) -> str:
    """A range's button label in the request's language ("24 h", "7 d")."""
    if r.seconds <= 86400:
        return gettext("%(num)s h", num=format_number(r.seconds // 3600))
    return gettext("%(num)s d", num=format_number(r.seconds // 86400))


def ends_title(step: int) -> str:
    """The title of the "Jobs finished" chart for intervals of ``step`` seconds."""
    if step < 3600:
        n = step // 60
        return ngettext(
            "Jobs finished per %(num)s min, by status",
            "Jobs finished per %(num)s min, by status",
            n,
        )
    if step < 86400:
        n = step // 3600
        return ngettext(
            "Jobs finished per %(num)s h, by status", "Jobs finished per %(num)s h, by status", n
        )
    return gettext("Jobs finished per day, by status")


def _secs(value: float | None) -> str:
    """A percentile's duration: "850 ms", "4.2 s" up to two minutes, then "3 min 5 s"."""
    if value is None:
        return _NONE
    if value < 1:
        return gettext("%(num)s ms", num=format_number(round(value * 1000)))
    if value < 120:
        return gettext("%(num)s s", num=fmt._decimal(value))
    return fmt.seconds(value)


def _percent(value: float | None) -> str:
    """A failure rate with one decimal ("12.5 %"), a dash without finished jobs."""
    if value is None:
        return _NONE
    return gettext("%(num)s %%", num=fmt._decimal(value))


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
    total = sum(totals)
    title = ngettext(
        "%(num)s job finished in 24 h (%(failed)s failed): open Insights",
        "%(num)s jobs finished in 24 h (%(failed)s failed): open Insights",
        total,
        failed=format_number(failed),
    )
    text = ngettext("%(num)s finished in 24 h", "%(num)s finished in 24 h", total)
    return Markup(
        '<a class="jobs-admin-sparkline small text-muted" href="{url}" title="{title}">'
        '<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/>'
        "</svg> {text}</a>"
    ).format(
        url=url_for("jobs_insights.index", range="24h"),
        title=title,
        w=width,
        h=height,
        points=points,
        text=text,
    )
