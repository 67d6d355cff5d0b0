"""The host app's extension objects, created unbound (bound in :func:`host_app.create_app`)."""

from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from jobs_admin import JobsAdmin

db = SQLAlchemy()
migrate = Migrate()
login_manager = LoginManager()
#: Defines the jobs tables on db.metadata now, so ``flask db`` sees them.
jobs = JobsAdmin(db=db, category=None)
