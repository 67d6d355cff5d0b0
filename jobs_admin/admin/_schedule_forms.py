"""The Schedules page's forms: the schedule's own fields, and the type's params form."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, Form, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import cron
from ..errors import InvalidSchedule
from ..i18n import lazy_gettext
from ..registry import JobType
from ..service._schedules import check_name
from .forms import csrf_base

#: Prefix of the params fields, so that a param called ``name`` or ``cron`` cannot clash.
PARAMS_PREFIX = "param-"


def _cron(_form: Any, field: Any) -> None:
    try:
        cron.parse(field.data or "")
    except InvalidSchedule as exc:
        raise ValidationError(exc.translated()) from None


def _zone(_form: Any, field: Any) -> None:
    try:
        cron.zone((field.data or "").strip())
    except InvalidSchedule as exc:
        raise ValidationError(exc.translated()) from None


def _name(_form: Any, field: Any) -> None:
    try:
        check_name(field.data)
    except InvalidSchedule as exc:
        raise ValidationError(exc.translated()) from None


_CLASSES: dict[tuple[type[Form], bool], type[Form]] = {}


def _form_class(base: type[Form], new: bool) -> type[Form]:
    cls = _CLASSES.get((base, new))
    if cls is not None:
        return cls

    class ScheduleForm(base):
        cron = StringField(
            lazy_gettext("Cron"),
            validators=[DataRequired(), _cron],
            description=lazy_gettext(
                "minute hour day-of-month month day-of-week; Sunday is 0 or 7"
            ),
        )
        timezone = StringField(
            lazy_gettext("Time zone"),
            default="UTC",
            validators=[DataRequired(), _zone],
            description=lazy_gettext("an IANA name, e.g. Europe/Berlin"),
        )
        skip_if_running = BooleanField(
            lazy_gettext("Skip a tick while the previous run is still active")
        )
        description = TextAreaField(
            lazy_gettext("Description"), validators=[Optional(), Length(max=2000)]
        )

    if new:

        class NewScheduleForm(ScheduleForm):
            name = StringField(lazy_gettext("Name"), validators=[DataRequired(), _name])

        cls = NewScheduleForm
    else:
        cls = ScheduleForm
    _CLASSES[(base, new)] = cls
    return cls


def schedule_form(formdata: Any, row: dict[str, Any] | None, *, new: bool) -> Any:
    """The schedule's fields (with the CSRF token), filled from ``row`` on a GET."""
    cls = _form_class(csrf_base(), new)
    if formdata is not None:
        return cls(formdata=formdata)
    data = (
        {k: row[k] for k in ("cron", "timezone", "skip_if_running", "description")}
        if row
        else {"timezone": "UTC", "skip_if_running": True}
    )
    return cls(data=data)


def type_form(job_type: JobType | None, formdata: Any, params: dict[str, Any] | None) -> Any:
    """The type's params form (no token of its own: the schedule form carries it), or
    ``None`` when the type has none."""
    if job_type is None or job_type.params is None:
        return None
    return job_type.params(formdata=formdata, data=params, prefix=PARAMS_PREFIX)
