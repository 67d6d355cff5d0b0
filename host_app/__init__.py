"""A realistic demo host: a shop with its own admin panel, login and roles, plus jobs_admin."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from .extensions import db, jobs, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the shop app.

    Settings come from the defaults below, then ``FLASK_*`` environment variables
    (``FLASK_SQLALCHEMY_DATABASE_URI=postgresql+psycopg:///shop``), then ``config``.

    :param config: settings that win over everything else (tests pass theirs here).
    """
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_mapping(
        SECRET_KEY="dev-only-change-me",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'shop.sqlite'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        ADMIN_SWATCH="default",
    )
    app.config.from_prefixed_env()
    if config:
        app.config.from_mapping(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"

    from . import auth, demo_jobs  # noqa: F401 - registers the job types and the checker
    from .views import ProductView, ShopIndexView, UserView

    admin = Admin(
        name="Shop admin",
        theme=Bootstrap4Theme(swatch=app.config["ADMIN_SWATCH"]),
        index_view=ShopIndexView(),
    )
    admin.init_app(app)
    from .models import Product, User

    admin.add_view(ProductView(Product, db, category="Shop"))
    admin.add_view(UserView(User, db, category="Shop"))
    app.register_blueprint(auth.bp)

    jobs.init_app(app, admin=admin)

    from .cli import demo_cli

    app.cli.add_command(demo_cli)
    return app
