"""The "Started job #N" flash a host's own view shows after it enqueued a job."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, url_for
from markupsafe import Markup

from ..i18n import gettext
from ._render import ENDPOINT


def flash_started(job: Any, category: str = "success") -> None:
    """Flash "Started job #N <name>." with a link to the job's detail page (plain text when
    the app has no Jobs view).

    :param job: the ``Job`` just enqueued (it has its id once flushed).
    :param category: the flash category.
    """
    label = f"#{job.id} {job.name or job.type}"
    # A unique type's duplicate: the job returned was queued before, nothing was started.
    text, category = (
        (gettext("Not started: already queued: job %(job)s."), "warning")
        if getattr(job, "duplicate", False)
        else (gettext("Started job %(job)s."), category)
    )
    if f"{ENDPOINT}.details_view" in current_app.view_functions:
        url = url_for(f"{ENDPOINT}.details_view", id=job.id)
        link = Markup('<a href="{}">{}</a>').format(url, label)
        flash(Markup(text % {"job": link}), category)
    else:
        flash(text % {"job": label}, category)
