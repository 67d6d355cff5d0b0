""" "My jobs": the navbar item on every admin page and the ``jobs_admin_my_jobs()`` widget.

Both list the current user's own jobs (``created_by`` is their identity), newest first, through
the same visibility as the Jobs pages; the navbar's badge counts their running jobs from the
per-status counters (no scan of the jobs table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import render_template, url_for
from markupsafe import Markup

from .. import permissions as perms
from ..admin._api_args import ListArgs
from ..admin._api_jobs import page
from ..i18n import MY_JOBS
from ._render import ENDPOINT, MAX_LIMIT, answers, extension, feed_config, has_jobs_view

#: The list page's filter argument of the jobs' creator (``named_filter_urls``).
USER_FILTER = "flt0_created_by_equals"


@dataclass
class MyJobs:
    """What "My jobs" shows."""

    user: str
    limit: int
    jobs: list[Any] = field(default_factory=list)
    running: int = 0
    list_url: str = ""
    fragment_url: str = ""
    feed: dict[str, Any] = field(default_factory=dict)


def build_my_jobs(limit: int | str = 10, *, with_jobs: bool = True) -> MyJobs | None:
    """The current user's latest jobs and running count, or ``None`` when they may not see
    jobs (or the app has no Jobs view).

    :param limit: how many jobs, newest first (at most 50).
    :param with_jobs: read the jobs too (the navbar reads them only when its menu opens).
    """
    jobs = extension()
    ans = answers(jobs)
    if not has_jobs_view() or not ans.can(perms.VIEW) or not ans.own:
        return None
    try:
        count = max(1, min(MAX_LIMIT, int(limit)))
    except (TypeError, ValueError):
        count = 10
    mine = MyJobs(ans.own, count)
    mine.feed = feed_config(jobs, ans)
    mine.running = jobs.store.counts(jobs.db.session, ans.own)["running"]
    mine.list_url = str(url_for(f"{ENDPOINT}.index_view")) + "?" + urlencode({USER_FILTER: ans.own})
    mine.fragment_url = str(url_for(f"{ENDPOINT}.my_jobs_fragment", limit=count))
    if with_jobs:
        visible = jobs.visibility(ans.user, sees_all=ans.can(perms.VIEW_ALL))
        args = ListArgs(created_by=ans.own, limit=count)
        mine.jobs, _next = page(jobs, visible, args, lambda job: ans.can(perms.VIEW, job))
    return mine


def render_my_jobs(nonce: str = "", limit: int = 10, title: Any = MY_JOBS) -> Markup:
    """The "My jobs" widget for a page of the host (empty for a user who may not see jobs).

    :param nonce: the page's CSP nonce attribute for the script tags.
    :param limit: how many jobs.
    :param title: the card's heading.
    """
    mine = build_my_jobs(limit)
    if mine is None:
        return Markup("")
    return Markup(
        render_template("jobs_admin/_my_jobs.html", mine=mine, title=title, nonce=Markup(nonce))
    )


def render_my_jobs_menu(nonce: str = "") -> Markup:
    """The navbar's "My jobs" item (its menu's jobs are fetched when it opens)."""
    mine = build_my_jobs(10, with_jobs=False)
    if mine is None:
        return Markup("")
    return Markup(render_template("jobs_admin/_my_jobs_menu.html", mine=mine, nonce=Markup(nonce)))


def render_my_jobs_items(limit: int | str = 10) -> str | None:
    """Only the list of jobs (what the script swaps in after a change, or when the menu opens),
    or ``None`` when the user may not see jobs."""
    mine = build_my_jobs(limit)
    if mine is None:
        return None
    return render_template("jobs_admin/_my_jobs_items.html", mine=mine)
