"""Translations: every string jobs_admin shows goes through its own ``jobs_admin`` gettext domain.

The domain works as Flask-Admin's own translations do: through Flask-Babel when the host runs it
(``Babel(app)``), so the host's locale selector picks the language of our strings too, with the
catalogues shipped in ``jobs_admin/translations``. Without Flask-Babel (or before the host set it
up) every string is its English original. Numbers, dates and relative times follow the same
locale through Babel's formatters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import current_app, has_request_context

#: The gettext domain of jobs_admin's catalogues (``jobs_admin/translations/<lang>/LC_MESSAGES``).
DOMAIN = "jobs_admin"
#: Where the compiled catalogues live.
TRANSLATIONS = Path(__file__).parent / "translations"
#: The languages shipped complete with the package, besides English.
LANGUAGES = ("de", "fr")

try:
    from flask_babel import Domain
    from flask_babel import get_locale as _babel_locale
except ImportError:  # pragma: no cover - Flask-Babel is optional
    Domain = None
    _babel_locale = None

#: Folders holding ``<lang>/LC_MESSAGES/jobs_admin.mo``, merged in order (a later folder's
#: message wins): a host appends its own catalogue (a language we do not ship, or its wording).
TRANSLATION_DIRECTORIES: list[str] = [str(TRANSLATIONS)]

if Domain is not None:

    class _Domain(Domain):
        """Flask-Babel's domain over :data:`TRANSLATION_DIRECTORIES` as they are now."""

        @property
        def translation_directories(self) -> list[str]:
            return list(TRANSLATION_DIRECTORIES)

    _domain: Any = _Domain(str(TRANSLATIONS), domain=DOMAIN)
else:  # pragma: no cover
    _domain = None


def _active() -> bool:
    # Flask-Babel's domains need its extension on the app; a host without it gets English.
    return _domain is not None and has_request_context() and "babel" in current_app.extensions


def gettext(string: str, **variables: Any) -> str:
    """Translate ``string`` into the request's language; ``%(name)s`` placeholders take
    ``variables``.

    :param string: the English message.
    :param variables: values for the message's named placeholders.
    """
    if _active():
        return str(_domain.gettext(string, **variables))
    return string % variables if variables else string


def ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> str:
    """Translate a message with a count; ``%(num)s`` is the count, formatted for the locale.

    :param singular: the English message for one.
    :param plural: the English message for many.
    :param n: the count that chooses the form.
    :param variables: values for the message's other placeholders (``num`` overrides the
        formatted count).
    """
    variables.setdefault("num", format_number(n))
    if _active():
        # Not Domain.ngettext: its own ``num`` argument would clash with the formatted count.
        return str(_domain.get_translations().ngettext(singular, plural, n) % variables)
    return (singular if n == 1 else plural) % variables


class _LazyString:
    """A message translated each time it is rendered (class attributes, form labels)."""

    __slots__ = ("_string", "_variables")

    def __init__(self, string: str, variables: dict[str, Any]) -> None:
        self._string = string
        self._variables = variables

    def __str__(self) -> str:
        return gettext(self._string, **self._variables)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))

    def __repr__(self) -> str:
        return f"l'{self._string}'"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._string)

    def __len__(self) -> int:
        return len(str(self))

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mod__(self, other: Any) -> str:
        return str(self) % other

    @property
    def _args(self) -> tuple[str]:
        # Flask-Admin reads a lazy string's original through ``_args`` (named filter URLs).
        return (self._string,)

    def __getattr__(self, name: str) -> Any:
        # str methods (lower, format, startswith...) act on the translated text.
        return getattr(str(self), name)


#: What the pages call each status (the database keeps the lowercase value).
STATUS_LABELS: dict[str, Any] = {}


def status_label(status: str) -> str:
    """The translated name of a status ("Failed", "Fehlgeschlagen").

    :param status: a status value (``"failed"``).
    """
    label = STATUS_LABELS.get(str(status))
    return str(label) if label is not None else str(status).title()


def lazy_gettext(string: str, **variables: Any) -> Any:
    """A message translated when it is rendered, for text fixed at import time.

    :param string: the English message.
    :param variables: values for the message's named placeholders.
    """
    return _LazyString(string, variables)


def locale() -> Locale:
    """The request's locale: Flask-Babel's when it runs on the app, else English."""
    if _active() and _babel_locale is not None:
        current = _babel_locale()
        if current is not None:
            return current
    return Locale("en")


def language() -> str:
    """The request's language as a BCP 47 tag for HTML and ``Intl`` (``"de"``, ``"en-US"``)."""
    return str(locale()).replace("_", "-")


def format_number(value: float) -> str:
    """A count with the locale's grouping ("12,345", "12.345", "12 345").

    :param value: the number.
    """
    return babel_numbers.format_decimal(value, locale=locale())


def format_timedelta(delta: timedelta, *, direction: bool = False) -> str:
    """A rough duration in the locale ("5 min", "vor 5 Min." with ``direction``).

    :param delta: the duration; negative is the past when ``direction`` is set.
    :param direction: say "ago"/"in" around it.
    """
    return babel_dates.format_timedelta(
        delta, add_direction=direction, format="short", threshold=1.1, locale=locale()
    )


def format_datetime(value: datetime, fmt: str = "medium") -> str:
    """A UTC timestamp in the locale's way of writing dates, with its zone named.

    :param value: an aware or naive-UTC datetime.
    :param fmt: a Babel format name or pattern.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = babel_dates.format_datetime(value, fmt, tzinfo=UTC, locale=locale())
    return f"{text} UTC"


STATUS_LABELS.update(
    pending=lazy_gettext("Pending"),
    running=lazy_gettext("Running"),
    completed=lazy_gettext("Completed"),
    partial=lazy_gettext("Partial"),
    failed=lazy_gettext("Failed"),
    cancelled=lazy_gettext("Cancelled"),
)

#: The default titles of the job panel and of "My jobs" (a host's own title is used as given).
LAST_EXECUTIONS = lazy_gettext("Last executions")
MY_JOBS = lazy_gettext("My jobs")


# -- the live scripts' strings ----------------------------------------------------------------

#: The scripts whose ``_("...")`` and ``_n("...", "...", n)`` calls the pages translate.
STATIC = Path(__file__).parent / "static" / "jobs_admin"
JS_KEYWORDS: dict[str, Any] = {"_": None, "_n": (1, 2)}

_js_messages: list[str | tuple[str, str]] | None = None


def js_messages() -> list[str | tuple[str, str]]:
    """Every message the package's scripts show, read from their source once per process
    (with Babel's own JavaScript extractor, as ``pybabel extract`` does)."""
    global _js_messages
    if _js_messages is None:
        from babel.messages.extract import extract_from_file

        found: dict[Any, None] = {}
        for path in sorted(STATIC.glob("*.js")):
            for _line, message, _comments, _context in extract_from_file(
                "javascript", str(path), keywords=JS_KEYWORDS
            ):
                found[message if isinstance(message, str) else tuple(message[:2])] = None
        _js_messages = list(found)
    return _js_messages


def js_catalog() -> dict[str, Any]:
    """The scripts' messages in the request's language: ``{"locale": "de", "messages": {...}}``;
    a plural message maps its singular to its two forms (for one, for many)."""
    messages: dict[str, Any] = {}
    if not _active():
        return {"locale": language(), "messages": messages}
    # The raw translations: the scripts fill the placeholders themselves.
    translations = _domain.get_translations()
    for message in js_messages():
        if isinstance(message, str):
            said = translations.gettext(message)
            if said != message:
                messages[message] = said
        else:
            one, many = message
            forms = [translations.ngettext(one, many, 1), translations.ngettext(one, many, 2)]
            if forms != [one, many]:
                messages[one] = forms
    return {"locale": language(), "messages": messages}
