"""The demo's language: Flask-Babel with a menu in the navbar (English, German, French).

Flask-Admin's own strings and jobs_admin's come in the chosen language, because both translate
through Flask-Babel's locale selector.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, request, session
from flask_babel import Babel, get_locale

#: The languages the demo offers, each named in itself.
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français"}

babel = Babel()
bp = Blueprint("language", __name__)


def select_locale() -> str:
    """The session's choice, else the browser's best match, else English."""
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


@bp.route("/language/<code>")
def choose(code: str) -> Any:
    """Remember ``code`` for this session and go back to ``?next=`` (a path on this site)."""
    if code in LANGUAGES:
        session["language"] = code
    target = request.args.get("next", "")
    # Only a path on this site: "//evil.example" and "/\\evil.example" are other hosts.
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = "/admin/"
    return redirect(target)


def init_app(app: Flask) -> None:
    """Set up Flask-Babel and the navbar's language menu on ``app``."""
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.jinja_env.globals["shop_languages"] = LANGUAGES
    app.jinja_env.globals["shop_language"] = lambda: str(get_locale() or "en")
