"""Install the panel's Jinja globals and "My jobs" on an app (called by ``init_admin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask
from jinja2 import pass_context
from markupsafe import Markup

from ..i18n import LAST_EXECUTIONS, MY_JOBS
from ._my_jobs import render_my_jobs, render_my_jobs_menu
from ._render import render_panel

if TYPE_CHECKING:
    from ..extension import JobsAdmin

#: The wrapper of the admin's base template (see ``jobs_admin/admin_base.html``).
WRAPPER = "jobs_admin/admin_base.html"


def _nonce(context: Any) -> str:
    """The page's CSP nonce attribute (Flask-Admin's ``admin_csp_nonce_attribute``), if any."""
    value = context.get("admin_csp_nonce_attribute")
    return str(value) if value else ""


@pass_context
def jobs_admin_panel(
    context: Any,
    reference: Any,
    types: Any = None,
    run: Any = None,
    limit: int = 5,
    params: Any = None,
    run_reference: str | None = None,
    title: Any = LAST_EXECUTIONS,
) -> Markup:
    """``{{ jobs_admin_panel(reference="export-profile:7", types=[...], run=[...], limit=5) }}``:
    a record's last executions with their buttons (see :func:`~._render.build_panel`)."""
    return render_panel(
        _nonce(context),
        title,
        reference=reference,
        types=types,
        run=run,
        limit=limit,
        params=params,
        run_reference=run_reference,
    )


@pass_context
def jobs_admin_my_jobs(context: Any, limit: int = 10, title: Any = MY_JOBS) -> Markup:
    """``{{ jobs_admin_my_jobs(limit=10) }}``: the current user's latest jobs as a card."""
    return render_my_jobs(_nonce(context), limit, title)


def install(jobs: JobsAdmin, app: Flask, admin: Any) -> None:
    """Add the Jinja globals to ``app`` and, with ``JOBS_ADMIN_MY_JOBS``, wrap the base template
    of ``admin`` so that every admin page gets "My jobs" and the toasts.

    :param jobs: the extension.
    :param app: the host app.
    :param admin: the host's ``flask_admin.Admin`` (with the Jobs view), or ``None``.
    """
    app.jinja_env.globals["jobs_admin_panel"] = jobs_admin_panel
    app.jinja_env.globals["jobs_admin_my_jobs"] = jobs_admin_my_jobs
    app.jinja_env.globals["jobs_admin_my_jobs_menu"] = render_my_jobs_menu
    if admin is None or not jobs.settings(app).my_jobs:
        return
    theme = admin.theme
    # The host's own base template (its navbar, its sign-out form) stays: ours extends it. An
    # Admin set up on a second app is wrapped already; its original is kept on the theme.
    original = getattr(theme, "jobs_admin_base_template", None) or theme.base_template
    if original == WRAPPER:
        raise RuntimeError("the admin's base template is jobs_admin's own wrapper")
    theme.jobs_admin_base_template = original
    theme.base_template = WRAPPER
    app.jinja_env.globals["jobs_admin_base_template"] = original
