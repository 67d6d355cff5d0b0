"""The private Flask-Admin methods jobs_admin overrides or calls are those it was written for.

If one of these tests fails after a Flask-Admin upgrade, re-read the named method in the new
Flask-Admin, check that :class:`jobs_admin.admin.views.JobView`'s override (or call) still
does the same, then record the new signature and source hash here and the version in the
comments of the modules of ``jobs_admin/admin/`` (JobView is assembled from mixins there).
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import flask_admin
import pytest
from flask_admin.base import BaseView
from flask_admin.contrib.sqla.view import ModelView
from flask_admin.model.base import BaseModelView

from jobs_admin.admin.views import JobView

#: The Flask-Admin version the methods below were read from.
READ_IN = "2.2.1"

#: (class, method) -> (its parameters' names, the first 16 hex digits of the SHA-256 of its
#: source). Names, not the rendered signature: how ``typing`` prints annotations varies with the
#: Python version, and the source hash covers the annotations.
RECORDED: dict[tuple[type, str], tuple[tuple[str, ...], str]] = {
    (ModelView, "_apply_search"): (
        ("self", "query", "count_query", "joins", "count_joins", "search"),
        "2c01e5aa3767aedd",
    ),
    (BaseModelView, "_get_list_extra_args"): (("self",), "6302de06c10ccc71"),
    (BaseView, "_run_view"): (("self", "fn", "args", "kwargs"), "92e96a47f219c4d6"),
    (BaseModelView, "_get_filter_groups"): (("self",), "d6c8d411822bb462"),
    (ModelView, "_apply_filters"): (
        ("self", "query", "count_query", "joins", "count_joins", "filters"),
        "24f73b6f86e8ad1c",
    ),
}


@pytest.mark.parametrize(("cls", "name"), list(RECORDED), ids=[name for _, name in RECORDED])
def test_flask_admin_private_method_is_the_one_read(cls: type, name: str) -> None:
    method = vars(cls)[name]
    parameters, digest = RECORDED[(cls, name)]
    advice = (
        f"{cls.__name__}.{name} changed since Flask-Admin {READ_IN} (now"
        f" {flask_admin.__version__}): re-read it, check JobView's use of it, then update"
        " tests/test_flask_admin_private.py and the version in jobs_admin/admin/"
    )
    assert tuple(inspect.signature(method).parameters) == parameters, advice
    source = hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]
    assert source == digest, advice


def test_flask_admin_private_overrides_are_all_recorded() -> None:
    """Every private method JobView or one of its mixins overrides is in :data:`RECORDED` (a
    new one needs its entry and its version comment)."""
    recorded = {name for _, name in RECORDED}
    own = [cls for cls in JobView.__mro__ if cls.__module__.startswith("jobs_admin.")]
    flask_admin_bases = [cls for cls in JobView.__mro__ if cls not in own]
    overridden = {
        name
        for cls in own
        for name, value in vars(cls).items()
        if name.startswith("_")
        and not name.startswith("__")
        and callable(value)
        and any(name in vars(base) for base in flask_admin_bases)
    }
    # The scan reaches the mixins (where the overrides live), not only JobView's own body.
    assert {"_apply_search", "_get_list_extra_args", "_run_view"} <= overridden
    assert overridden <= recorded, overridden - recorded


def test_flask_admin_finds_the_mixins_routes_and_actions(app: Any) -> None:
    """Flask-Admin collects ``@expose`` and ``@action`` from the final class's attributes, the
    mixins' included: every route and action of the job view is registered on the app."""
    admin = app.extensions["admin"][0]
    view = next(v for v in admin._views if isinstance(v, JobView))
    endpoints = {rule.endpoint: set(rule.methods or ()) for rule in app.url_map.iter_rules()}
    expected = {
        "index_view": "GET",
        "details_view": "GET",
        "retry_job": "POST",
        "retry_items_job": "POST",
        "cancel_job": "POST",
        "delete_job": "POST",
        "action_view": "POST",
        "download": "GET",
        "export_csv": "GET",
        "prune": "POST",
        "new": "POST",
    }
    for name, method in expected.items():
        assert method in endpoints.get(f"{view.endpoint}.{name}", set()), name
    assert JobView._default_view == "index_view"
    assert {name for name, _text in view._actions} == {"retry", "cancel", "delete"}
