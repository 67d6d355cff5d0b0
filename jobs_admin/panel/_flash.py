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
    if f"{ENDPOINT}.details_view" in current_app.view_functions:
        url = url_for(f"{ENDPOINT}.details_view", id=job.id)
        link = Markup('<a href="{}">{}</a>').format(url, label)
        flash(Markup(gettext("Started job %(job)s.", job=link)), category)
    else:
        flash(gettext("Started job %(job)s.", job=label), category)
