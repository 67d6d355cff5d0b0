"""Register the jobs_admin blueprint and admin views on an app."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, request, url_for
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from .. import i18n
from ..i18n import lazy_gettext
from ..models import BADGES, JobStatus
from . import _html
from . import format as fmt

if TYPE_CHECKING:
    from ..extension import JobsAdmin


def init_admin(jobs: JobsAdmin, app: Flask, admin: Any) -> None:
    """Register the package's templates, static files and filters and, with ``admin``, the view
    and its live-updates websocket.

    :param jobs: the extension.
    :param app: the host app.
    :param admin: the host's ``flask_admin.Admin``, or ``None`` for no views.
    """
    bp = Blueprint(
        "jobs_admin",
        __name__.rsplit(".", 2)[0],
        template_folder="templates",
        static_folder="static/jobs_admin",
        static_url_path="/jobs_admin/static",
    )
    view = None
    if admin is not None:
        from .views import JobView

        view_class = jobs.view_class or JobView
        view = view_class(
            jobs, name=lazy_gettext("Jobs"), endpoint="jobs", url="jobs", category=jobs.category
        )
        # The websocket sits under the view's URL (``/admin/jobs/ws``) but on this blueprint.
        from ..live.websocket import register

        base = view._get_view_url(admin, view.url).rstrip("/")
        register(bp, base + "/ws")
        from . import _metrics

        _metrics.register(bp, base + "/metrics")
    app.register_blueprint(bp)
    app.add_template_filter(fmt.relative_time, "jobs_admin_relative")
    app.add_template_filter(fmt.seconds, "jobs_admin_seconds")
    app.add_template_filter(fmt.about, "jobs_admin_about")
    app.add_template_filter(fmt.utc, "jobs_admin_utc")
    # Our own gettext domain in templates: ``_ja("...")`` and ``_jan("one", "many", n)``.
    app.jinja_env.globals["_ja"] = i18n.gettext
    app.jinja_env.globals["_jan"] = i18n.ngettext
    app.jinja_env.globals["jobs_admin_status_label"] = i18n.status_label
    app.jinja_env.globals["jobs_admin_i18n_tags"] = i18n_tags
    app.jinja_env.globals["jobs_admin_language"] = i18n.language
    app.jinja_env.globals["jobs_admin_badges"] = {s.value: BADGES[s] for s in JobStatus}
    # The pieces the macros of jobs_admin/_macros.html print (built in Python for speed).
    app.jinja_env.globals["jobs_admin_html"] = SimpleNamespace(
        status_badge=_html.status_badge,
        progress=_html.progress,
        time=_html.time,
        action_form=_html.action_form,
    )
    from ..panel._setup import install

    install(jobs, app, admin if view is not None else None)
    if view is None:
        return
    size = jobs.settings(app).page_size
    view.page_size = size
    view.page_size_options = tuple(sorted({size, *view.page_size_options}))
    admin.add_view(view)
    from .schedules import ScheduleView

    admin.add_view(
        ScheduleView(
            jobs,
            jobs_view=view,
            name=lazy_gettext("Schedules"),
            endpoint="jobs_schedules",
            url=view.url.rstrip("/") + "/schedules",
            category=jobs.category,
        )
    )
    from .failures import FailuresView
    from .insights import InsightsView, sparkline

    app.jinja_env.globals["jobs_admin_sparkline"] = lambda: sparkline(jobs)

    admin.add_view(
        InsightsView(
            jobs,
            name=lazy_gettext("Insights"),
            endpoint="jobs_insights",
            url="jobs/insights",
            category=jobs.category,
        )
    )
    admin.add_view(
        FailuresView(
            jobs,
            name=lazy_gettext("Failures"),
            endpoint="jobs_failures",
            url="jobs/failures",
            category=jobs.category,
        )
    )
    from .flow_views import TypesView, WorkersView

    base = view.url.rstrip("/")
    for cls, name, endpoint, url in (
        (WorkersView, lazy_gettext("Workers"), "jobs_workers", "workers"),
        (TypesView, lazy_gettext("Job types"), "jobs_types", "types"),
    ):
        admin.add_view(
            cls(jobs, name=name, endpoint=endpoint, url=f"{base}/{url}", category=jobs.category)
        )


def i18n_tags(nonce: Any = "") -> Markup:
    """The scripts' translations (JSON) and the script that reads them, once per page.

    :param nonce: the page's CSP nonce attribute (``admin_csp_nonce_attribute``).
    """
    # Once per request (not ``g``: an app context can outlive several requests in tests).
    if request.environ.get("jobs_admin.i18n_tags"):
        return Markup("")
    request.environ["jobs_admin.i18n_tags"] = True
    catalog = htmlsafe_json_dumps(i18n.js_catalog())
    src = url_for("jobs_admin.static", filename="jobs_admin_i18n.js")
    return Markup(
        '<script type="application/json" id="jobs-admin-i18n">{}</script>\n'
        '<script {} src="{}"></script>'
    ).format(catalog, Markup(nonce or ""), src)
