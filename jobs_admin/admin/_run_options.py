"""The run form's job options: name, reference, priority and "run at" (a later time).

They are a form of their own with the field prefix ``job-`` (``job-name``...), so that no
job type's params can collide with them; the params form carries the CSRF token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wtforms import DateTimeLocalField, Form, IntegerField, StringField, validators

from ..i18n import gettext, lazy_gettext
from ..models import utcnow

#: The latest "run at" the form accepts, from now.
MAX_DELAY = timedelta(days=366)

#: Priorities the form accepts (higher runs first).
PRIORITY_RANGE = (-100, 100)


def _zone(form: Form, field: Any) -> None:
    try:
        ZoneInfo(field.data or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise validators.ValidationError(
            gettext("not a time zone; use a name such as UTC or Europe/Paris")
        ) from None


class JobOptionsForm(Form):
    """How a job started from the run form is named, found and scheduled."""

    name = StringField(
        lazy_gettext("Name"),
        validators=[validators.Optional(), validators.Length(max=200)],
        description=lazy_gettext("Shown in the jobs list; the type's title when empty."),
    )
    reference = StringField(
        lazy_gettext("Reference"),
        validators=[validators.Optional(), validators.Length(max=200)],
        description=lazy_gettext("A reference to search by (an order or a customer number)."),
    )
    priority = IntegerField(
        lazy_gettext("Priority"),
        default=0,
        validators=[validators.Optional(), validators.NumberRange(*PRIORITY_RANGE)],
        description=lazy_gettext("Higher runs first."),
    )
    run_at = DateTimeLocalField(
        lazy_gettext("Run at"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[validators.Optional()],
        description=lazy_gettext("Leave empty to run now."),
    )
    timezone = StringField(
        lazy_gettext("Time zone"),
        default="UTC",
        validators=[validators.Optional(), validators.Length(max=64), _zone],
        description=lazy_gettext("The zone of 'Run at' (your browser's, when scripts run)."),
    )

    def validate_run_at(self, field: Any) -> None:
        """A time to come, at most :data:`MAX_DELAY` ahead, in the form's time zone."""
        if field.data is None:
            return
        when = self.run_at_utc()
        if when is None:
            return  # the time zone's own error says why
        now = utcnow()
        if when <= now:
            raise validators.ValidationError(
                gettext("must be a time to come (leave empty to run now)")
            )
        if when > now + MAX_DELAY:
            raise validators.ValidationError(gettext("must be within a year"))

    def run_at_utc(self) -> datetime | None:
        """ "Run at" as a timezone-aware time, or ``None`` (run now, or an unknown zone)."""
        local: datetime | None = self.run_at.data
        if local is None:
            return None
        try:
            zone = ZoneInfo(self.timezone.data or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return None
        return local.replace(tzinfo=zone)

    def enqueue_options(self) -> dict[str, Any]:
        """The keywords of :meth:`~jobs_admin.JobsAdmin.enqueue` these fields give."""
        return {
            "name": (self.name.data or "").strip() or None,
            "reference": (self.reference.data or "").strip() or None,
            "priority": self.priority.data or 0,
            "run_at": self.run_at_utc(),
        }


def job_options_form(formdata: Any = None) -> JobOptionsForm:
    """The options form, its fields named ``job-...``."""
    return JobOptionsForm(formdata=formdata, prefix="job")
