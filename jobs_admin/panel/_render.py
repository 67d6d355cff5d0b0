"""The job panel and "My jobs", rendered for the current request's user.

Both read through the same visibility as the Jobs pages (``view`` to see anything, own jobs
only without ``view_all``, the host's ``@jobs.visible_jobs`` condition, the checker's ``view``
on each job) and offer only the buttons the user's permissions allow. Their links and forms
point at the Jobs view (endpoint ``jobs``), so they work on any page of the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import current_app, render_template, request, url_for
from markupsafe import Markup

from .. import permissions as perms
from ..admin._api_args import ListArgs
from ..admin._api_jobs import page
from ..admin._base import _STATE, local
from ..admin.forms import token_form
from ..i18n import LAST_EXECUTIONS
from ..models import BADGES, JobStatus, utcnow

if TYPE_CHECKING:
    from ..extension import JobsAdmin

#: The Flask-Admin endpoint of the Jobs view (see :func:`jobs_admin.admin.init_admin`).
ENDPOINT = "jobs"
#: Most executions a panel lists, and most jobs "My jobs" lists.
MAX_LIMIT = 50
#: Where a request keeps its user's permission answers (one set per request, as the views do).
_ANSWERS = "jobs_admin.panel_answers"
#: Where a request keeps its live settings (one cursor read per page, however many panels).
_FEED = "jobs_admin.panel_feed"
#: Prefix of the query arguments that prefill the run form (``param.skus=A1``).
PARAM_PREFIX = "param."


def extension() -> JobsAdmin:
    """The current app's :class:`~jobs_admin.JobsAdmin`."""
    jobs: JobsAdmin = current_app.extensions["jobs_admin"]
    return jobs


def answers(jobs: JobsAdmin) -> perms.Answers:
    """The current user's permission answers, made once per request."""
    kept: perms.Answers | None = request.environ.get(_ANSWERS)
    if kept is None:
        # On a Jobs page the view has asked its questions already: the same answers serve.
        states = request.environ.get(_STATE) or {}
        views = [state.answers for state in states.values()]
        kept = views[0] if views else jobs.answers(jobs.get_current_user())
        request.environ[_ANSWERS] = kept
    return kept


def has_jobs_view() -> bool:
    """Whether the app has the Jobs admin view (``jobs.init_app(app, admin=...)``)."""
    return f"{ENDPOINT}.index_view" in current_app.view_functions


def here() -> str:
    """This request's page, as a local path (what the panel's buttons come back to)."""
    target = local(request.full_path.rstrip("?"))
    return target or "/"


def feed_config(jobs: JobsAdmin, ans: perms.Answers) -> dict[str, Any]:
    """What ``jobs_admin_feed.js`` needs to open (or share) the live socket of this page.

    Read before the component's own queries: the socket catches up from this moment. Read once
    per request: the page's first component (the navbar) has the earliest cursor, which the
    page's one socket uses.
    """
    kept: dict[str, Any] | None = request.environ.get(_FEED)
    if kept is None:
        kept = request.environ[_FEED] = _feed_config(jobs, ans)
    return kept


def _feed_config(jobs: JobsAdmin, ans: perms.Answers) -> dict[str, Any]:
    return {
        "ws": urlsplit(url_for("jobs_admin.ws")).path,
        "since": jobs.live_cursor(),
        "now": utcnow().isoformat(),
        "user": ans.own,
        "details": url_for(f"{ENDPOINT}.details_view"),
        "api": url_for(f"{ENDPOINT}.index_view") + "api/",
        "badges": {s.value: BADGES[s] for s in JobStatus},
    }


@dataclass
class RunButton:
    """One "Run <title>" button of a panel."""

    title: str
    url: str


@dataclass
class Panel:
    """What a job panel shows."""

    references: list[str]
    types: list[str] | None
    limit: int
    jobs: list[Any] = field(default_factory=list)
    runs: list[RunButton] = field(default_factory=list)
    return_url: str = "/"
    csrf: str = ""
    can: Any = None
    cancellable: dict[str, bool] = field(default_factory=dict)
    feed: dict[str, Any] = field(default_factory=dict)
    fragment_url: str = ""


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    return [str(n) for n in names if n]


def _limit(value: Any, default: int) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(value)))
    except (TypeError, ValueError):
        return default


def run_url(
    job_type: str, reference: str, return_url: str, params: Mapping[str, Any] | None
) -> str:
    """The run form of ``job_type``, prefilled with ``reference`` and ``params``, coming back
    to ``return_url`` after the job is started."""
    args: dict[str, Any] = {"type": job_type, "reference": reference, "url": return_url}
    for key, value in (params or {}).items():
        if value is None:
            continue
        args[PARAM_PREFIX + key] = (
            [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
        )
    return str(url_for(f"{ENDPOINT}.new", **args))


def run_prefill(args: Any) -> dict[str, Any] | None:
    """The params a job panel's Run link prefills (its ``param.<name>`` arguments), or ``None``.

    :param args: the run form's query arguments (a ``MultiDict``).
    """
    data: dict[str, Any] = {}
    for key in args:
        if key.startswith(PARAM_PREFIX) and len(key) > len(PARAM_PREFIX):
            values = args.getlist(key)
            data[key[len(PARAM_PREFIX) :]] = values if len(values) > 1 else values[0]
    return data or None


def run_origin() -> tuple[str | None, str | None]:
    """(the reference, the local page to come back to) a run form was opened with from a job
    panel; a reference that could not be stored (too long, a NUL) is dropped."""
    reference = request.values.get("reference") or None
    if reference is not None and (len(reference) > 200 or "\x00" in reference):
        reference = None
    return reference, local(request.values.get("url"))


def build_panel(
    reference: str | Sequence[str],
    types: str | Sequence[str] | None = None,
    run: str | Sequence[str] | None = None,
    limit: int = 5,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    run_reference: str | None = None,
    return_url: str | None = None,
) -> Panel | None:
    """Gather a panel for the current user, or ``None`` when they may not see jobs.

    :param reference: the record's reference, or several (the panel lists the jobs of each).
    :param types: only jobs of these types (default: every type).
    :param run: the types offered as "Run <title>" buttons (to users with ``run`` on them).
    :param limit: how many executions, newest first.
    :param params: type -> params prefilled in its run form.
    :param run_reference: the reference a job started here gets (default: the first one).
    :param return_url: where the buttons come back to (default: this page).
    """
    jobs = extension()
    ans = answers(jobs)
    if not has_jobs_view() or not ans.can(perms.VIEW):
        return None
    references = _names(reference) or []
    panel = Panel(references, _names(types), _limit(limit, 5))
    panel.return_url = local(return_url) or here()
    panel.feed = feed_config(jobs, ans)
    visible = jobs.visibility(ans.user, sees_all=ans.can(perms.VIEW_ALL))
    if references:
        args = ListArgs(references=references, types=panel.types or [], limit=panel.limit)
        panel.jobs, _next = page(jobs, visible, args, lambda job: ans.can(perms.VIEW, job))
    for name in _names(run) or []:
        if name not in jobs.registry:
            raise ValueError(f"jobs_admin_panel: unknown job type {name!r} in run")
        job_type = jobs.registry.get(name)
        if job_type.builtin or not ans.can(perms.RUN, job_type) or not references:
            continue
        ref = run_reference or references[0]
        url = run_url(name, ref, panel.return_url, (params or {}).get(name))
        panel.runs.append(RunButton(job_type.title, url))
    for job in panel.jobs:
        if job.type in jobs.registry:
            panel.cancellable[job.type] = jobs.registry.get(job.type).cancellable
    panel.csrf = str(token_form().csrf_token.current_token)
    panel.can = ans.can
    query: list[tuple[str, str]] = [("reference", r) for r in references]
    query += [("type", t) for t in panel.types or []]
    query += [("limit", str(panel.limit)), ("url", panel.return_url)]
    panel.fragment_url = str(url_for(f"{ENDPOINT}.panel_fragment")) + "?" + urlencode(query)
    return panel


def render_panel(nonce: str = "", title: Any = LAST_EXECUTIONS, **options: Any) -> Markup:
    """The panel's HTML (empty for a user who may not see jobs); see :func:`build_panel`.

    :param nonce: the page's CSP nonce attribute for the panel's script tags.
    :param title: the panel's heading.
    """
    panel = build_panel(**options)
    if panel is None:
        return Markup("")
    return Markup(
        render_template("jobs_admin/_panel.html", panel=panel, title=title, nonce=Markup(nonce))
    )


def render_panel_rows(**options: Any) -> str | None:
    """Only the executions of a panel (what its script swaps in after a change), or ``None``
    when the user may not see jobs."""
    panel = build_panel(**options)
    if panel is None:
        return None
    return render_template("jobs_admin/_panel_rows.html", panel=panel)
