"""A job type's reference links (``links(job) -> [(label, url)]``), checked for the page.

Only ``http``/``https`` URLs and relative ones (``/admin/product/?id=3``, ``details?id=4``) are
shown: a ``javascript:`` or ``data:`` URL from a host's hook would run in the admin's origin.
The template escapes the labels and URLs as any value.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("jobs_admin.admin")

#: Most links one job shows.
MAX_LINKS = 20


def safe_url(url: str) -> bool:
    """Whether ``url`` is ``http(s)`` or relative, with no control character or backslash
    (which browsers may read as a scheme or a host)."""
    if not url or any(ord(c) < 32 or c in "\\\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.scheme:
        return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
    return True


def job_links(job_type: Any, job: Any) -> list[tuple[str, str]]:
    """The type's links for ``job`` that may be shown; a failing hook shows none and is logged.

    :param job_type: the job's :class:`~jobs_admin.registry.JobType` (``None``: unknown type).
    :param job: the job shown.
    """
    hook = getattr(job_type, "links", None)
    if hook is None:
        return []
    try:
        found = list(hook(job) or [])
    except Exception:
        log.exception("the links hook of job type %s failed for job %s", job_type.name, job.id)
        return []
    links: list[tuple[str, str]] = []
    for entry in found[:MAX_LINKS]:
        try:
            label, url = entry
        except (TypeError, ValueError):
            continue
        label, url = str(label), str(url)
        if safe_url(url):
            links.append((label[:200], url))
        else:
            log.warning("job %s: link %r dropped (only http(s) or relative URLs)", job.id, url)
    return links
