"""What the list and detail pages hand to their live-updates script (``jobs_admin_live.js``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..models import BADGES, JobStatus, utcnow

if TYPE_CHECKING:
    from ..extension import JobsAdmin


def live_config(jobs: JobsAdmin, page: str, details_url: str, ws_url: str) -> dict[str, Any]:
    """The page's live settings; call it before the page's own queries.

    ``since`` is the change cursor of this moment: the page's socket asks for everything that
    changed after it, so nothing is lost between rendering the page and connecting. ``now`` is
    the server's time of it: a job that started, finished or was created after it (by the
    server's clock, like the jobs' own times) is new to the page.

    :param page: ``"list"`` or ``"details"``.
    :param details_url: the detail page's URL, without the job id.
    :param ws_url: the websocket's URL (``url_for("jobs_admin.ws")``).
    """
    return {
        "page": page,
        "ws": urlsplit(ws_url).path,
        "since": jobs.live_cursor(),
        "now": utcnow().isoformat(),
        "user": jobs.identity(jobs.get_current_user()),
        "details": details_url,
        "badges": {s.value: BADGES[s] for s in JobStatus},
        "job": None,
    }
