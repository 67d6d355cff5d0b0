"""A realistic demo host: a shop with its own admin panel, login and roles, plus jobs_admin."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from .extensions import db, jobs, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent

#: ``SECRET_KEY`` values anyone who has read this repository knows (the demo's old default and
#: the placeholder of ``docs/deploy/shop.env``): a session signed with one can be forged.
PUBLIC_SECRET_KEYS = frozenset({"dev-only-change-me", "change-me-to-a-long-random-string"})

#: The largest request body the shop accepts (1 MB): a bigger POST gets 413 before any view
#: parses it, instead of costing memory and being echoed back in a form.
MAX_CONTENT_LENGTH = 1024 * 1024


class InsecureSecretKey(RuntimeError):
    """The app would run outside debug and testing without a secret key of its own."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the shop app.

    Settings come from the defaults below, then ``FLASK_*`` environment variables
    (``FLASK_SQLALCHEMY_DATABASE_URI=postgresql+psycopg:///shop``), then ``config``.
    ``SECRET_KEY`` has no default: see :func:`configure_secret_key`.

    :param config: settings that win over everything else (tests pass theirs here).
    :raises InsecureSecretKey: outside debug and testing, no secret key or a public one.
    """
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'shop.sqlite'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        ADMIN_SWATCH="default",
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
    )
    app.config.from_prefixed_env()
    if config:
        app.config.from_mapping(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    configure_secret_key(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    from . import language

    language.init_app(app)

    from . import auth, demo_jobs  # noqa: F401 - registers the job types and the checker
    from .views import ExportProfileView, ProductView, ShopIndexView, UserView

    admin = Admin(
        name="Shop admin",
        # The navbar of every admin page gets the user's name and a "Sign out" button (a POST).
        theme=Bootstrap4Theme(
            swatch=app.config["ADMIN_SWATCH"], base_template="admin/shop_base.html"
        ),
        index_view=ShopIndexView(),
    )
    admin.init_app(app)
    from .models import ExportProfile, Product, User

    admin.add_view(ProductView(Product, db, category="Shop"))
    admin.add_view(
        ExportProfileView(ExportProfile, db, name="Export profiles", category="Imports/Exports")
    )
    admin.add_view(UserView(User, db, category="Shop"))
    app.register_blueprint(auth.bp)

    jobs.init_app(app, admin=admin)

    from .cli import demo_cli

    app.cli.add_command(demo_cli)
    return app


def configure_secret_key(app: Flask) -> None:
    """Make sure ``app`` signs its sessions with a key nobody else knows.

    ``SECRET_KEY`` (``FLASK_SECRET_KEY``) wins. Without it, ``SECRET_KEY_FILE``
    (``FLASK_SECRET_KEY_FILE``, relative to the instance folder) names a file holding the key,
    made with a random key on first use: ``make demo`` uses ``instance/secret_key``. Without
    either, debug and testing get a random key for this process; anything else refuses to
    start, and so does a key from :data:`PUBLIC_SECRET_KEYS` outside debug and testing.

    :param app: the app being built; its ``SECRET_KEY`` is set when it comes from the file.
    :raises InsecureSecretKey: outside debug and testing, no secret key or a public one.
    """
    key = app.config.get("SECRET_KEY")
    key_file = app.config.get("SECRET_KEY_FILE")
    if not key and key_file:
        key = app.config["SECRET_KEY"] = _key_from_file(Path(app.instance_path) / str(key_file))
    if app.debug or app.testing:
        if not key:
            # Sessions last until a restart, and no one can forge one.
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    if not key or key in PUBLIC_SECRET_KEYS:
        problem = "no SECRET_KEY is set" if not key else "SECRET_KEY is a public example value"
        raise InsecureSecretKey(
            f"Refusing to start: {problem}, so anyone could forge an admin's session. Set "
            "FLASK_SECRET_KEY to a long random string, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`, or set "
            "FLASK_SECRET_KEY_FILE to a file that holds one (made with a random key if missing)."
        )


def _key_from_file(path: Path) -> str:
    """The key stored in ``path``; a new random one, readable by its owner only, if missing.

    :param path: the key file; its folder must exist.
    """
    if not path.exists():
        # Written aside and linked into place, so that processes starting together (gunicorn's
        # workers) agree on one key and none reads a half-written file.
        spare = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            os.link(spare, path)
        except FileExistsError:
            pass
        finally:
            spare.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not key:
        raise InsecureSecretKey(f"Refusing to start: the secret key file {path} is empty.")
    return key
