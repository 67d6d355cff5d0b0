"""The package's own Alembic revisions: the ``jobs_admin`` branch, for any host.

The revisions in :data:`VERSIONS_DIR` create and evolve the ``jobs_admin_*`` tables. They form an
Alembic branch of their own: label :data:`BRANCH`, first revision :data:`FIRST_REVISION` with
``down_revision = None``, every later one following the previous one, none referring to a host's
revision. A host lists the folder in its ``migrations/alembic.ini``, after its own::

    [alembic]
    path_separator = space
    version_locations = %(here)s/versions jobs_admin:migrations/versions

(``jobs_admin:migrations/versions`` is a package resource: Alembic finds it wherever the package
is installed.) Plain ``flask db upgrade`` upgrades to the single ``head``: a host joins the
branch's head into its own history with a merge revision (``flask db merge heads``), once when it
adopts jobs_admin and again after a jobs_admin release that adds a revision.

In the host's ``env.py``, :func:`configure_args` adds hooks that keep autogenerate and
``flask db check`` exact (see :mod:`jobs_admin._migrations`)::

    context.configure(connection=connection, target_metadata=get_metadata(),
                      **jobs_admin.migrations.configure_args(conf_args, dialect=connection.dialect))

Adding a revision to the package: write ``jobs_admin_000N_<what>.py`` here with ``revision =
"jobs_admin_000N"`` and ``down_revision`` the previous package revision (never a host's), keep
the models and the revision in step (``tests/test_migrations.py`` compares the two schemas), and
merge it into the demo host's history (``flask --app wsgi db merge heads -m "merge
jobs_admin_000N"``).
"""

from __future__ import annotations

from .._migrations import (
    VERSIONS_DIR,
    compare_type,
    configure_args,
    include_object,
    process_revision_directives,
)

#: ``VERSIONS_DIR`` as an Alembic package resource, for ``version_locations`` in alembic.ini.
VERSION_LOCATION = "jobs_admin:migrations/versions"

#: The Alembic branch label of the package's revisions.
BRANCH = "jobs_admin"

#: The revision that creates the jobs tables: the base of the branch.
FIRST_REVISION = "jobs_admin_0001"

#: The newest revision of the branch (what a host's merge revision joins).
HEAD_REVISION = "jobs_admin_0010"

__all__ = [
    "BRANCH",
    "FIRST_REVISION",
    "HEAD_REVISION",
    "VERSIONS_DIR",
    "VERSION_LOCATION",
    "compare_type",
    "configure_args",
    "include_object",
    "process_revision_directives",
]
