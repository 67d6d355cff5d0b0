"""enqueue: params validation, the caller's transaction, options."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import InvalidParams, UnknownJobType
from tests.support import Probe


def nothing_written(probe: Probe) -> bool:
    return (
        probe.count("jobs") == 0
        and probe.count("events") == 0
        and all(r["n"] == 0 for r in probe.counter_rows())
    )


def test_enqueue_adds_a_pending_job_with_its_event_and_counter(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue(
        "test.items", count=3, name="Three items", reference="PO-1", priority=5, commit=True
    )
    row = probe.job(job.id)
    assert row is not None
    assert row["status"] == "pending"
    assert row["type"] == "test.items"
    assert row["name"] == "Three items"
    assert row["reference"] == "PO-1"
    assert row["priority"] == 5
    assert row["params"] == {"count": 3, "fail_every": None, "label": "items"}
    assert row["attempts"] == 0 and row["max_attempts"] == 1
    assert row["created_by"] is None and row["worker"] is None
    assert row["run_at"] is not None and row["created_at"] is not None
    events = probe.events(job.id)
    assert [(e["kind"], e["message"]) for e in events] == [("status", "enqueued")]
    assert jobs.counts()["pending"] == 1 == probe.group_by_status()["pending"]


def test_enqueue_name_defaults_to_the_type_title(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.noop", commit=True)
    assert probe.job(job.id)["name"] == "Test: no-op"


def test_enqueue_coerces_params_through_the_form(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.items", count="5", fail_every="2", label="sku", commit=True)
    assert probe.job(job.id)["params"] == {"count": 5, "fail_every": 2, "label": "sku"}


def test_enqueue_params_mapping_for_a_param_called_like_an_option(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.echo", name="Job name", params={"name": "param name"}, x=1)
    jobs.db.session.commit()
    row = probe.job(job.id)
    assert row["name"] == "Job name"
    assert row["params"] == {"name": "param name", "x": 1}
    with pytest.raises(InvalidParams, match="given twice"):
        jobs.enqueue("test.echo", params={"x": 1}, x=2)


def test_enqueue_unknown_type_leaves_no_row(app: Flask, jobs: Any, probe: Probe) -> None:
    with pytest.raises(UnknownJobType) as info:
        jobs.enqueue("test.nope", commit=True)
    assert info.value.name == "test.nope"
    assert isinstance(info.value, LookupError)
    jobs.db.session.commit()
    assert nothing_written(probe)


def test_enqueue_invalid_params_give_field_errors_and_no_row(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    with pytest.raises(InvalidParams) as info:
        jobs.enqueue("test.items", count="lots", fail_every=-1, commit=True)
    assert set(info.value.errors) == {"count", "fail_every"}
    assert all(info.value.errors[k] for k in ("count", "fail_every"))
    assert "count" in str(info.value)
    with pytest.raises(InvalidParams) as info:
        jobs.enqueue("test.items", commit=True)  # count is required
    assert set(info.value.errors) == {"count"}
    jobs.db.session.commit()
    assert nothing_written(probe)


def test_enqueue_unknown_param_names_are_refused(app: Flask, jobs: Any, probe: Probe) -> None:
    # A type with a params form: the extra name is a field error.
    with pytest.raises(InvalidParams) as info:
        jobs.enqueue("test.items", count=1, colour="red", commit=True)
    assert info.value.errors == {"colour": ["not a parameter of this job type"]}
    # A type without a form: the function's signature decides.
    with pytest.raises(InvalidParams, match="do not fit"):
        jobs.enqueue("test.noop", colour="red", commit=True)
    with pytest.raises(InvalidParams, match="do not fit"):
        jobs.enqueue("test.session", username="admin", commit=True)  # email is missing
    jobs.db.session.commit()
    assert nothing_written(probe)


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, math.nan, math.inf, b"bytes", {"nested": object()}],
    ids=["object", "set", "nan", "inf", "bytes", "nested"],
)
def test_enqueue_non_json_params_are_refused(
    app: Flask, jobs: Any, probe: Probe, value: Any
) -> None:
    with pytest.raises(InvalidParams, match="not JSON"):
        jobs.enqueue("test.echo", value=value, commit=True)
    jobs.db.session.commit()
    assert nothing_written(probe)


def test_enqueue_json_friendly_values_are_stored_as_json(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = jobs.enqueue("test.echo", when=when, items=("a", "b"), n=None, commit=True)
    assert probe.job(job.id)["params"] == {
        "when": "2026-01-02T03:04:05+00:00",
        "items": ["a", "b"],
        "n": None,
    }


@pytest.mark.app_config(JOBS_ADMIN_MAX_PARAMS_BYTES=100)
def test_enqueue_params_over_the_size_limit_are_refused(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    with pytest.raises(InvalidParams, match="the limit is 100"):
        jobs.enqueue("test.echo", blob="x" * 100, commit=True)
    jobs.db.session.commit()
    assert nothing_written(probe)
    job = jobs.enqueue("test.echo", blob="x" * 50, commit=True)  # under the limit: fine
    assert probe.job(job.id)["params"] == {"blob": "x" * 50}


def test_enqueue_bad_options_are_refused(app: Flask, jobs: Any, probe: Probe) -> None:
    with pytest.raises(InvalidParams, match="timezone-aware"):
        jobs.enqueue("test.noop", run_at=datetime(2030, 1, 1))
    with pytest.raises(InvalidParams, match="longer than 200"):
        jobs.enqueue("test.noop", name="n" * 201)
    with pytest.raises(InvalidParams, match="longer than 200"):
        jobs.enqueue("test.noop", reference="r" * 201)
    jobs.db.session.commit()
    assert nothing_written(probe)


def test_enqueue_joins_the_callers_transaction(
    app: Flask, jobs: Any, db: Any, probe: Probe
) -> None:
    from host_app.models import Product

    db.session.add(Product(sku="A1", name="Widget"))
    job = jobs.enqueue("test.noop")
    assert job.id is not None  # flushed
    assert db.session.get(jobs.Job, job.id) is job
    # Another connection does not see it before the commit.
    assert probe.count("jobs") == 0
    assert probe.job(job.id) is None
    db.session.rollback()
    assert probe.count("jobs") == 0
    assert probe.count("events") == 0
    assert jobs.counts()["total"] == 0
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM shop_product")).scalar() == 0

    db.session.add(Product(sku="A2", name="Gadget"))
    job = jobs.enqueue("test.noop")
    db.session.commit()
    # The job and the data it needs were saved together.
    assert probe.status(job.id) == "pending"
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sku FROM shop_product")).scalars().all() == ["A2"]
    assert jobs.counts()["pending"] == 1


def test_enqueue_commit_true_commits_at_once(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.noop", commit=True)
    assert probe.status(job.id) == "pending"


def test_enqueue_run_at_in_the_future_is_not_claimed(app: Flask, jobs: Any, probe: Probe) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    job = jobs.enqueue("test.noop", run_at=later, commit=True)
    assert jobs.work_off() == 0
    row = probe.job(job.id)
    assert row["status"] == "pending"
    assert abs((row["run_at"] - later).total_seconds()) < 0.001


def test_enqueue_priority_orders_claims(
    app: Flask, jobs: Any, probe: Probe, markers: list[int]
) -> None:
    low = jobs.enqueue("test.marker", priority=0).id
    high = jobs.enqueue("test.marker", priority=10).id
    mid = jobs.enqueue("test.marker", priority=5).id
    jobs.db.session.commit()
    assert jobs.work_off() == 3
    assert markers == [high, mid, low]


def test_enqueue_created_by_is_the_logged_in_user(
    app: Flask, jobs: Any, client: Any, auth: Any, probe: Probe
) -> None:
    from flask_login import login_user

    from host_app.models import User

    user = jobs.db.session.scalar(sa.select(User).filter_by(username="operator"))
    with app.test_request_context():
        login_user(user)
        job = jobs.enqueue("test.noop", commit=True)
    assert probe.job(job.id)["created_by"] == "operator"
    assert probe.job(job.id)["updated_by"] == "operator"
    explicit = jobs.enqueue("test.noop", created_by="cron", commit=True)
    assert probe.job(explicit.id)["created_by"] == "cron"
    assert jobs.counts(user)["pending"] == 1


def test_enqueue_user_identity_hook_names_the_creator(app: Flask, jobs: Any, probe: Probe) -> None:
    from flask_login import login_user

    from host_app.models import User

    user = jobs.db.session.scalar(sa.select(User).filter_by(username="viewer"))
    previous = jobs.access.identify
    try:
        jobs.user_identity(lambda u: f"user:{u.id}")
        with app.test_request_context():
            login_user(user)
            job = jobs.enqueue("test.noop", commit=True)
        assert probe.job(job.id)["created_by"] == f"user:{user.id}"
        assert jobs.counts(user)["pending"] == 1
    finally:
        jobs.access.identify = previous


# -- characters the database cannot store ------------------------------------------------------

#: (job type, params, the param named in the error, where inside it).
UNSTORABLE = [
    ("test.echo", {"label": "a\x00b"}, "label", ""),
    ("test.items", {"count": 1, "label": "rows\x00"}, "label", ""),
    ("test.echo", {"opts": {"k": ["ok", "bad\x00"]}}, "opts", '["k"][1]'),
    ("test.echo", {"opts": {"bad\x00key": 1}}, "opts", "a key of it"),
    ("test.echo", {"nul\x00name": 1}, "nul\\u0000name", "its name"),
    ("test.echo", {"text": "half a pair \ud800"}, "text", ""),
]


def _check_unstorable_refused(jobs: Any, probe: Probe) -> None:
    for job_type, params, field, where in UNSTORABLE:
        with pytest.raises(InvalidParams) as info:
            jobs.enqueue(job_type, params=params, commit=True)
        message = str(info.value)
        assert list(info.value.errors) == [field], (params, info.value.errors)
        (error,) = info.value.errors[field]
        assert "which the database cannot store" in error
        assert ("U+0000" in error) != ("U+D800" in error), error
        assert where in error
        # The message names the param, never echoes the value.
        assert "\x00" not in message and "\ud800" not in message
        assert "bad" not in message and "half a pair" not in message
    for option in ("name", "reference"):
        with pytest.raises(InvalidParams, match=f"the job's {option} contains NUL"):
            jobs.enqueue("test.noop", **{option: "x\x00y"}, commit=True)
    with pytest.raises(InvalidParams, match="the job's creator contains NUL"):
        jobs.enqueue("test.noop", created_by="op\x00", commit=True)
    jobs.db.session.rollback()
    assert nothing_written(probe)
    # What the database can store still goes in whole.
    fine = {"text": "tab\tnew line\n€ 😀 \u200b", "opts": {"k": ["é"]}}
    job = jobs.enqueue("test.echo", params=fine, name="n😀", reference="r\t1", commit=True)
    row = probe.job(job.id)
    assert (row["params"], row["name"], row["reference"]) == (fine, "n😀", "r\t1")


def test_enqueue_refuses_characters_the_database_cannot_store(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    _check_unstorable_refused(jobs, probe)


@pytest.mark.postgres
def test_enqueue_refuses_characters_postgresql_cannot_store(
    pg_app: Flask, jobs: Any, probe: Probe
) -> None:
    with pg_app.app_context():
        assert jobs.db.engine.dialect.name == "postgresql"
        _check_unstorable_refused(jobs, probe)
