"""The demo host's Alembic environment (Flask-Migrate's template, plus jobs_admin's helpers).

What differs from the file ``flask db init`` writes:

* ``migrations/alembic.ini`` lists the jobs_admin package's revisions in ``version_locations``.
* ``context.configure`` gets :func:`jobs_admin.migrations.configure_args`: a ``compare_type``
  that sees through ``TypeDecorator`` and variant types, an ``include_object`` that compares
  ``DESC`` and dialect-only indexes correctly, and a ``process_revision_directives`` that never
  files a new revision inside the installed package. Autogenerate and ``flask db check`` thus
  stay exact on SQLite and PostgreSQL.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

import jobs_admin.migrations

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# (disable_existing_loggers=False: running migrations must not silence the app's loggers)
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    migrate_db = current_app.extensions["migrate"].db
    try:
        # Flask-SQLAlchemy>=3 (its get_engine() is deprecated)
        return migrate_db.engine
    except AttributeError:
        # Flask-SQLAlchemy<3 and Alchemical
        return migrate_db.get_engine()


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def process_revision_directives(context, revision, directives):
    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


def configure_args(dialect):
    """Flask-Migrate's arguments for ``context.configure``, plus jobs_admin's hooks."""
    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives
    return jobs_admin.migrations.configure_args(conf_args, dialect=dialect)


def run_migrations_offline():
    """Run migrations in 'offline' mode (``--sql``): emit the SQL instead of running it."""
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode, on a connection of the app's engine."""
    connectable = get_engine()

    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **configure_args(connection.dialect),
        )

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
