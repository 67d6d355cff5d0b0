"""The store has one backend per database, chosen once per app; no method asks the dialect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_app_context

import jobs_admin.store
from jobs_admin.store import PostgreSQLStore, SQLiteStore, make_store


def test_store_backend_is_chosen_per_app_from_its_engine(app: Flask, jobs: Any, db: Any) -> None:
    """Each app's store is its database's backend, made once at init_app and kept."""
    with app.app_context():
        store = jobs.store
        expected = {"sqlite": SQLiteStore, "postgresql": PostgreSQLStore}[db.engine.dialect.name]
        assert type(store) is expected
        assert jobs.store is store
        assert store.models is jobs.models


def test_store_backend_works_through_the_public_api(app: Flask, jobs: Any, probe: Any) -> None:
    """The chosen backend enqueues, claims and counts as the public API expects."""
    with app.app_context():
        job = jobs.enqueue("test.noop", commit=True)
        assert jobs.work_off(limit=1) == 1
        assert probe.status(job.id) == "completed"
        assert jobs.counts()["completed"] == 1 == probe.group_by_status()["completed"]


def test_store_needs_an_app_context(jobs: Any) -> None:
    """Outside an app context there is no store to choose: a clear error, not a guess."""
    assert not has_app_context()
    with pytest.raises(RuntimeError):
        jobs.store  # noqa: B018


def test_make_store_refuses_a_database_without_a_store(jobs: Any) -> None:
    """Only PostgreSQL and SQLite have a store; another dialect is refused by name."""
    with pytest.raises(RuntimeError, match="'mysql'"):
        make_store(jobs.models, "mysql")


def test_store_methods_never_ask_which_database_they_run_on() -> None:
    """What differs between the databases is a hook of each backend, never a branch."""
    folder = Path(jobs_admin.store.__file__).parent
    for path in sorted(folder.glob("*.py")):
        source = path.read_text()
        asks = re.findall(
            r"dialect(?:\.name)?\s*[!=]=|get_bind\(\)|[!=]= \"(?:postgresql|sqlite)\"", source
        )
        assert not asks, f"{path.name} asks the dialect: {asks}"
