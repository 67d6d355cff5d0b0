"""Migrations: the jobs_admin branch and the demo host's revisions, on SQLite and PostgreSQL.

Every test runs on an empty database of its own: a file in ``tmp_path``, or a throwaway
PostgreSQL database created for the test (server from ``JOBS_ADMIN_TEST_DATABASE_URL``; skipped
when unreachable, unless ``JOBS_ADMIN_REQUIRE_ALL=1``) and dropped after it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

import jobs_admin.migrations as jm
from host_app import ROOT, create_app
from host_app.extensions import db, jobs, migrate
from jobs_admin import _migrations

PG_DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
JOBS_TABLES = {
    "jobs_admin_job",
    "jobs_admin_job_event",
    "jobs_admin_job_count",
    "jobs_admin_job_item",
    "jobs_admin_worker",
    "jobs_admin_type_state",
}
SHOP_TABLES = {"shop_user", "shop_product"}
HOST_MIGRATIONS = ROOT / "migrations"


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> sa.URL:
    """The PostgreSQL server's URL; skips (or fails with JOBS_ADMIN_REQUIRE_ALL=1) if down."""
    url = sa.make_url(os.environ.get("JOBS_ADMIN_TEST_DATABASE_URL", PG_DEFAULT_URL))
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        message = f"PostgreSQL not reachable at {url.render_as_string(hide_password=True)}: {exc}"
        if os.environ.get("JOBS_ADMIN_REQUIRE_ALL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The engine a test runs on: each test runs once on SQLite, once on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def make_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """``make_database() -> url``: a new, empty database of the test's engine."""
    made: list[str] = []
    server: sa.URL | None = request.getfixturevalue("pg_server") if backend != "sqlite" else None

    def factory() -> str:
        name = f"jobs_admin_mig_{uuid.uuid4().hex[:10]}"
        if server is None:
            return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        made.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield factory
    if server is not None and made:
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator[Callable[[str], Flask]]:
    """``make_host(url) -> app``: the demo host on ``url``, worker off, nothing created yet."""
    made: list[Flask] = []

    def factory(url: str) -> Flask:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "JOBS_ADMIN_WORKER": "off",
                "TESTING": True,
                "SECRET_KEY": "test",
                "JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
                "DEMO_JOB_DELAY": 0,
            }
        )
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """env.py's ``fileConfig`` replaces the root logger's handlers and level: put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def migrated(make_database: Callable[[], str], make_host: Callable[[str], Flask]) -> Flask:
    """A demo host on a new database brought to ``head`` by ``flask db upgrade``."""
    app = make_host(make_database())
    with app.app_context():
        flask_migrate.upgrade()
    return app


def schema_diffs(app: Flask, metadata: sa.MetaData | None = None, **opts: Any) -> list[Any]:
    """What ``flask db check`` compares: the database against ``metadata`` (default: the app's).

    With jobs_admin's hooks (``configure_args``) unless ``opts`` are given.
    """
    with app.app_context(), db.engine.connect() as conn:
        if not opts:
            opts = jm.configure_args({"compare_type": True}, dialect=conn.dialect)
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, metadata if metadata is not None else db.metadata))


def copy_metadata() -> sa.MetaData:
    """A copy of the app's metadata to change in a test."""
    metadata = sa.MetaData()
    for table in db.metadata.sorted_tables:
        copy = table.to_metadata(metadata)
        # to_metadata() drops Index.ddl_if(); carry it over so the copy is created alike.
        conditions = {ix.name: ix._ddl_if for ix in table.indexes if ix._ddl_if is not None}
        for ix in copy.indexes:
            if ix.name in conditions:
                ix._ddl_if = conditions[ix.name]
    return metadata


def table_names(app: Flask) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


# -- the schema as the database reports it -----------------------------------------------------


def schema_snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Tables, columns, keys and indexes as ``engine``'s database reports them.

    Types are compared as the database spells them, indexes also by their DDL as the database
    stores it (sort order and partial-index ``WHERE`` included).
    """
    inspector = sa.inspect(engine)
    index_ddl = _index_ddl(engine)
    snapshot: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        columns = [
            (
                c["name"],
                # (the columns of SQLite's FTS5 search table have no type)
                ""
                if isinstance(c["type"], sa.types.NullType)
                else c["type"].compile(dialect=engine.dialect),
                c["nullable"],
                None if c.get("default") is None else str(c["default"]),
            )
            for c in inspector.get_columns(table)
        ]
        pk = inspector.get_pk_constraint(table)
        fks = sorted(
            (
                fk["name"] or "",
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
                tuple(sorted((fk.get("options") or {}).items())),
            )
            for fk in inspector.get_foreign_keys(table)
        )
        uniques = sorted(
            (u["name"] or "", tuple(u["column_names"]))
            for u in inspector.get_unique_constraints(table)
        )
        indexes = sorted(
            (
                ix["name"],
                tuple(ix["column_names"]),
                bool(ix["unique"]),
                tuple(
                    sorted(
                        (k, _migrations.normalize_sql(str(v)))
                        for k, v in (ix.get("dialect_options") or {}).items()
                    )
                ),
                index_ddl.get((table, ix["name"])),
            )
            for ix in inspector.get_indexes(table)
        )
        snapshot[table] = {
            "columns": columns,
            "primary_key": (pk.get("name"), tuple(pk["constrained_columns"])),
            "foreign_keys": fks,
            "unique": uniques,
            "indexes": indexes,
        }
    if engine.dialect.name == "sqlite":
        # Triggers and virtual tables (the FTS5 search index) are no tables to the inspector.
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master"
                " WHERE type = 'trigger' OR sql LIKE 'CREATE VIRTUAL TABLE%'"
            ).all()
        snapshot["__sqlite_master__"] = sorted(
            (kind, name, re.sub(r"\s+", " ", sql or "").replace("IF NOT EXISTS ", ""))
            for kind, name, sql in rows
        )
    return snapshot


def _index_ddl(engine: sa.Engine) -> dict[tuple[str, str], str]:
    if engine.dialect.name == "sqlite":
        query = "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'"
    else:
        query = (
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema()"
        )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(query).all()
    return {(t, n): re.sub(r"\s+", " ", ddl or "").strip() for t, n, ddl in rows}


# -- the revisions -----------------------------------------------------------------------------


def test_history_has_one_head_and_a_self_contained_jobs_admin_branch(
    make_host: Callable[[str], Flask], tmp_path: Path
) -> None:
    app = make_host(f"sqlite:///{tmp_path / 'unused.sqlite'}")
    with app.app_context():
        script = ScriptDirectory.from_config(migrate.get_config())

    # One head: plain `flask db upgrade` (target "head") works. A jobs_admin revision that the
    # host's history has not merged yet shows up here as a second head.
    assert len(script.get_heads()) == 1, script.get_heads()

    package = {
        r.revision: r
        for r in script.walk_revisions()
        if Path(r.path).parent.resolve() == jm.VERSIONS_DIR
    }
    assert jm.FIRST_REVISION in package
    first = package[jm.FIRST_REVISION]
    assert first.down_revision is None
    assert tuple(first.module.branch_labels) == (jm.BRANCH,)
    for rev in package.values():
        # Usable by any host: the branch never refers to a host's revision.
        assert set(rev._all_down_revisions) <= set(package), rev.revision
        assert rev.module.depends_on is None, rev.revision
        assert jm.BRANCH in rev.branch_labels, rev.revision
    # HEAD_REVISION names the package's newest revision (the one no other package revision follows).
    followed = {down for rev in package.values() for down in rev._all_down_revisions}
    assert [name for name in package if name not in followed] == [jm.HEAD_REVISION]


def test_version_location_resolves_to_the_package_folder() -> None:
    from alembic.util import coerce_resource_to_filename

    path = Path(coerce_resource_to_filename(jm.VERSION_LOCATION)).resolve()
    assert path == jm.VERSIONS_DIR
    assert (path / "jobs_admin_0001_jobs_tables.py").is_file()
    assert "jobs_admin:migrations/versions" in (HOST_MIGRATIONS / "alembic.ini").read_text()


# -- upgrade, check, downgrade -----------------------------------------------------------------


def test_upgrade_creates_every_table_and_index(
    make_database: Callable[[], str], make_host: Callable[[str], Flask]
) -> None:
    app = migrated(make_database, make_host)
    assert table_names(app) >= JOBS_TABLES | SHOP_TABLES | {"alembic_version"}
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for name in JOBS_TABLES | SHOP_TABLES:
            table = db.metadata.tables[name]
            assert [c["name"] for c in inspector.get_columns(name)] == list(table.c.keys())
            indexes = inspector.get_indexes(name)
            # (PostgreSQL also lists the index behind each unique constraint)
            assert {ix["name"] for ix in indexes if "duplicates_constraint" not in ix} == {
                ix.name for ix in table.indexes if _made_on(ix, db.engine.dialect.name)
            }
        pending = {ix["name"]: ix for ix in inspector.get_indexes("jobs_admin_job")}[
            "ix_jobs_admin_job_pending"
        ]
        where = pending["dialect_options"][f"{db.engine.dialect.name}_where"]
        assert "pending" in str(where)
        heads = flask_migrate_heads(app)
        with db.engine.connect() as conn:
            assert set(MigrationContext.configure(conn).get_current_heads()) == heads


def _made_on(index: sa.Index, dialect: str) -> bool:
    """Whether ``index`` is created on ``dialect`` (``Index(...).ddl_if(dialect=...)``)."""
    ddl_if = getattr(index, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    names = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else tuple(ddl_if.dialect)
    return dialect in names


def flask_migrate_heads(app: Flask) -> set[str]:
    with app.app_context():
        return set(ScriptDirectory.from_config(migrate.get_config()).get_heads())


def test_upgrade_leaves_db_check_clean(
    make_database: Callable[[], str], make_host: Callable[[str], Flask]
) -> None:
    app = migrated(make_database, make_host)
    assert schema_diffs(app) == []
    with app.app_context():
        flask_migrate.check()  # exits (SystemExit) when it finds upgrade operations


def test_migrations_and_create_all_make_the_same_schema(
    make_database: Callable[[], str], make_host: Callable[[str], Flask]
) -> None:
    by_migrations = migrated(make_database, make_host)
    by_create_all = make_host(make_database())
    with by_create_all.app_context():
        db.create_all()
    # ...and `flask db check` on the create_all schema is clean too (stamped at head first).
    with by_create_all.app_context():
        flask_migrate.stamp()
        flask_migrate.check()

    with by_migrations.app_context():
        migrated_schema = schema_snapshot(db.engine)
    with by_create_all.app_context():
        created_schema = schema_snapshot(db.engine)
    assert set(migrated_schema) >= JOBS_TABLES | SHOP_TABLES
    for table in sorted(created_schema):
        assert migrated_schema[table] == created_schema[table], table
    assert migrated_schema == created_schema


def test_downgrade_to_base_removes_the_jobs_tables(
    make_database: Callable[[], str], make_host: Callable[[str], Flask]
) -> None:
    app = migrated(make_database, make_host)
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    assert table_names(app) & (JOBS_TABLES | SHOP_TABLES) == set()
    with app.app_context():
        flask_migrate.upgrade()  # and back up again
    assert table_names(app) >= JOBS_TABLES | SHOP_TABLES


def test_work_off_runs_a_job_on_the_migrated_schema(
    make_database: Callable[[], str], make_host: Callable[[str], Flask]
) -> None:
    from host_app.models import Product

    app = migrated(make_database, make_host)
    with app.app_context():
        job = jobs.enqueue("products.import", rows=4, invalid_every=2, reference="MIG-1")
        db.session.commit()
        assert jobs.work_off() == 1
        job = jobs.get(job.id)
        assert job.status == "partial"
        assert (job.progress_done, job.progress_failed) == (2, 2)
        assert job.finished_at is not None and job.finished_at.tzinfo is not None
        assert job.result == {"created": 2, "updated": 0, "rejected": 2}
        events = db.session.scalars(sa.select(jobs.JobEvent).filter_by(job_id=job.id))
        kinds = {e.kind for e in events}
        assert {"status", "item_failed"} <= kinds
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Product)) == 2
        assert jobs.counts()["partial"] == 1
        jobs.delete(job.id)  # the events go with it (FK ON DELETE CASCADE or the store)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(jobs.JobEvent)) == 0


# -- env.py's comparison hooks -------------------------------------------------------------------


def test_compare_type_sees_through_type_decorators_and_variants(
    make_database: Callable[[], str], make_host: Callable[[str], Flask], backend: str
) -> None:
    app = migrated(make_database, make_host)
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        checked = []
        for name in JOBS_TABLES:
            reflected = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for column in db.metadata.tables[name].c:
                if _migrations.resolve_type(column.type, conn.dialect) is column.type:
                    continue  # a plain type: Alembic's own comparison
                found = reflected.c[column.name]
                answer = jm.compare_type(context, found, column, found.type, column.type)
                assert answer is False, (name, column.name, found.type, column.type)
                checked.append(column.name)
        # UTCDateTime everywhere; JSON/JSONB on PostgreSQL, BigInteger/INTEGER ids on SQLite
        assert {"created_at", "run_at", "at"} <= set(checked)
        variants = {"params", "data"} if backend == "postgresql" else {"id", "job_id"}
        assert variants <= set(checked)
    # ... and with it, Alembic still sees real type changes
    changed = copy_metadata()
    job = changed.tables["jobs_admin_job"]
    job.c.name.type = sa.String(50)
    job.c.params.type = sa.Text()
    if backend == "postgresql":
        job.c.started_at.type = sa.DateTime(timezone=False)
    with app.app_context(), db.engine.connect() as conn:
        diffs = schema_diffs(app, changed, **jm.configure_args(dialect=conn.dialect))
    modified = {d[0][3] for d in diffs if isinstance(d, list) and d[0][0] == "modify_type"}
    # (SQLite has one DATETIME type: with or without time zone is the same column there)
    expected = {"name", "params"} | ({"started_at"} if backend == "postgresql" else set())
    assert modified == expected, diffs


def _replace_pending_index(metadata: sa.MetaData, where: str, *columns: str) -> None:
    table = metadata.tables["jobs_admin_job"]
    old = next(ix for ix in table.indexes if ix.name == "ix_jobs_admin_job_pending")
    table.indexes.discard(old)
    sa.Index(
        "ix_jobs_admin_job_pending",
        sa.desc("priority"),
        *(table.c[c] for c in columns),
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


@pytest.mark.parametrize(
    ("where", "columns"),
    [
        ("status = 'running'", ("run_at", "id")),  # another WHERE clause
        ("status = 'pending'", ("run_at",)),  # a column less
    ],
    ids=["where", "columns"],
)
def test_include_object_still_reports_a_changed_desc_index(
    make_database: Callable[[], str],
    make_host: Callable[[str], Flask],
    backend: str,
    where: str,
    columns: tuple[str, ...],
) -> None:
    app = migrated(make_database, make_host)
    changed = copy_metadata()
    _replace_pending_index(changed, where, *columns)
    diffs = schema_diffs(app, changed)
    names = {d[1].name for d in diffs if isinstance(d, tuple) and d[0].endswith("_index")}
    if backend == "postgresql" and where != "status = 'pending'":
        # Alembic compares no partial-index WHERE clause on PostgreSQL: there the schema
        # snapshot test (migrations vs create_all) is what guards it.
        assert names == set()
    else:
        assert names == {"ix_jobs_admin_job_pending"}, diffs


def test_include_object_skips_indexes_made_only_on_another_engine(
    make_database: Callable[[], str], make_host: Callable[[str], Flask], backend: str
) -> None:
    app = migrated(make_database, make_host)
    changed = copy_metadata()
    table = changed.tables["jobs_admin_job"]
    sa.Index("ix_jobs_admin_job_name_pg", table.c.name).ddl_if(dialect="postgresql")
    sa.Index("ix_jobs_admin_job_name_lite", table.c.name).ddl_if(dialect="sqlite")
    diffs = schema_diffs(app, changed)
    added = {d[1].name for d in diffs if isinstance(d, tuple) and d[0] == "add_index"}
    suffix = "pg" if backend == "postgresql" else "lite"
    assert added == {f"ix_jobs_admin_job_name_{suffix}"}


# -- any host --------------------------------------------------------------------------------------


def test_package_revisions_serve_a_host_without_revisions_of_its_own(
    make_database: Callable[[], str], make_host: Callable[[str], Flask], tmp_path: Path
) -> None:
    """A new host: Flask-Migrate's files plus the version_locations line, no revision yet."""
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako", "alembic.ini"):
        shutil.copy(HOST_MIGRATIONS / name, directory / name)
    package_files = set(jm.VERSIONS_DIR.iterdir())
    app = make_host(make_database())
    try:
        with app.app_context():
            flask_migrate.upgrade(directory=str(directory))
            assert table_names(app) & (JOBS_TABLES | SHOP_TABLES) == JOBS_TABLES

            # The host's first revision: autogenerated, filed in the host's folder (not in the
            # package, where Alembic would put a revision that follows a jobs_admin revision).
            flask_migrate.migrate(directory=str(directory), message="shop tables")
            created = list((directory / "versions").glob("*_shop_tables.py"))
            assert len(created) == 1
            assert set(jm.VERSIONS_DIR.iterdir()) == package_files
            assert f"down_revision = {jm.HEAD_REVISION!r}" in created[0].read_text()

            flask_migrate.upgrade(directory=str(directory))
            assert table_names(app) >= JOBS_TABLES | SHOP_TABLES
            flask_migrate.check(directory=str(directory))
    finally:
        for stray in set(jm.VERSIONS_DIR.iterdir()) - package_files:
            if stray.is_file():
                stray.unlink()
