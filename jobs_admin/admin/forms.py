"""Forms of the jobs views; every POST carries a CSRF token (Flask-Admin's ``SecureForm``)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_admin.form import SecureForm
from wtforms import Form, IntegerField, validators

from ..i18n import lazy_gettext


def csrf_base() -> type[Form]:
    """The form base class that carries the CSRF token this app checks.

    A host that protects every POST with Flask-WTF's ``CSRFProtect`` checks Flask-WTF's token;
    Flask-Admin's ``SecureForm`` token would be refused by it, so the views use ``FlaskForm`` there.
    """
    if "csrf" in current_app.extensions:
        from flask_wtf import FlaskForm

        return FlaskForm
    return SecureForm


def token_form(formdata: Any = None) -> Form:
    """A form with only the CSRF token, for the row actions."""
    return _token_form_class(csrf_base())(formdata=formdata)


def prune_form(formdata: Any = None, days: int = 30) -> Form:
    """The "clear old jobs" form: how many days of finished jobs to keep."""
    return _prune_form_class(csrf_base(), days)(formdata=formdata)


# The form classes are made once per base (and default): a WTForms class costs as much to make
# as a small page's row. Keyed by (kind, base, default).
_CLASSES: dict[tuple[str, type[Form], int], type[Form]] = {}


def _token_form_class(base: type[Form]) -> type[Form]:
    cls = _CLASSES.get(("token", base, 0))
    if cls is None:

        class TokenForm(base):
            pass

        cls = _CLASSES[("token", base, 0)] = TokenForm
    return cls


def _prune_form_class(base: type[Form], default_days: int) -> type[Form]:
    cls = _CLASSES.get(("prune", base, default_days))
    if cls is None:

        class PruneForm(base):
            days = IntegerField(
                lazy_gettext("Older than (days)"),
                default=default_days,
                validators=[validators.InputRequired(), validators.NumberRange(min=0, max=36500)],
            )

        cls = _CLASSES[("prune", base, default_days)] = PruneForm
    return cls


def run_form(params: type[Form] | None, formdata: Any = None, data: Any = None) -> Form:
    """The run form of a job type: its params form plus the CSRF token.

    :param data: values prefilled in its fields (a job panel's ``param.*`` arguments).
    """
    base = csrf_base()
    bases = (params, base) if params is not None else (base,)
    form_cls = type("RunForm", bases, {})
    return form_cls(formdata=formdata, data=data)
