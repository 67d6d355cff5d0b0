"""Translations: the catalogues are complete, pages follow the locale, no string escapes them."""

from __future__ import annotations

import html.parser
import io
import json
import re
from pathlib import Path
from typing import Any

import flask_admin
import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask

from jobs_admin import i18n
from jobs_admin.admin import format as fmt

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "jobs_admin" / "translations"
#: The keywords of `make messages` (Makefile) beyond Babel's defaults.
KEYWORDS = {"lazy_gettext": None, "_ja": None, "_jan": (1, 2), "_n": (1, 2)}


def _extracted() -> dict[str, Any]:
    """Every message `make messages` extracts: msgid (or its singular) -> the message."""
    from babel.messages.extract import DEFAULT_KEYWORDS

    method_map = [
        ("jobs_admin/**.py", "python"),
        ("jobs_admin/templates/**.html", "jinja2"),
        ("jobs_admin/static/jobs_admin/*.js", "javascript"),
    ]
    found: dict[str, Any] = {}
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map=method_map, keywords={**DEFAULT_KEYWORDS, **KEYWORDS}
    ):
        key = message if isinstance(message, str) else message[0]
        found[key] = message
    return found


def _catalog(lang: str) -> Any:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "jobs_admin.po").open("rb") as f:
        return read_po(f, locale=lang)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_catalogue_translates_every_extracted_message(lang: str) -> None:
    extracted = _extracted()
    assert len(extracted) > 250, "the extraction found too little: keywords or paths changed?"
    catalog = _catalog(lang)
    missing, untranslated, fuzzy = [], [], []
    for key in extracted:
        message = catalog.get(key)
        if message is None:
            missing.append(key)
        elif message.fuzzy:
            fuzzy.append(key)
        elif not message.string or (isinstance(message.string, tuple) and not all(message.string)):
            untranslated.append(key)
    assert not missing, f"run `make messages`: {len(missing)} new, e.g. {missing[:5]}"
    assert not fuzzy, f"{lang}: fuzzy translations to check: {fuzzy[:5]}"
    assert not untranslated, f"{lang}: {len(untranslated)} untranslated, e.g. {untranslated[:5]}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_catalogue_placeholders_match_and_mo_is_compiled(lang: str) -> None:
    catalog = _catalog(lang)
    placeholder = re.compile(r"%\((\w+)\)[sdr]|\{(\w*)\}")
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(placeholder.findall(ids[-1]))
        for said in strings:
            if said:
                assert set(placeholder.findall(said)) <= wanted | {("num", "")}, (lang, message.id)
    # The shipped .mo holds exactly what the .po says (`make translations` after each edit).
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "jobs_admin.mo").open("rb") as f:
        shipped = read_mo(f)
    fresh = io.BytesIO()
    write_mo(fresh, catalog)
    fresh.seek(0)
    compiled = read_mo(fresh)

    def table(catalog: Any) -> dict[Any, Any]:
        # read_mo gives a plural's ids and forms as lists.
        return {
            tuple(m.id) if isinstance(m.id, list | tuple) else m.id: (
                tuple(m.string) if isinstance(m.string, list | tuple) else m.string
            )
            for m in catalog
            if m.id
        }

    assert table(shipped) == table(compiled)


def test_gettext_without_flask_babel_is_english() -> None:
    app = Flask(__name__)
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert i18n.gettext("Job %(id)s is deleted.", id=7) == "Job 7 is deleted."
        assert i18n.ngettext("Deleted %(num)s job.", "Deleted %(num)s jobs.", 1200) == (
            "Deleted 1,200 jobs."
        )
        assert i18n.language() == "en"
        assert i18n.js_catalog() == {"locale": "en", "messages": {}}


def _german(client: Any, auth: Any, lang: str = "de") -> None:
    auth.login("admin")
    client.get(f"/language/{lang}?next=/admin/")


def test_list_page_in_german(client: Any, auth: Any, make_job: Any) -> None:
    make_job("failed")
    _german(client, auth)
    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert 'data-status="failed">Fehlgeschlagen</span>' in page
    assert "Aktualisieren" in page  # Refresh
    assert ">Refresh<" not in page and "Last 7 days" not in page
    # Flask-Admin's own strings come in German too (its catalogue, the same locale).
    assert "Filter hinzufügen" in page
    # The scripts get their messages as JSON, in German.
    blob = re.search(r'id="jobs-admin-i18n">(.*?)</script>', page, re.S)
    assert blob is not None
    catalog = json.loads(blob.group(1))
    assert catalog["locale"] == "de"
    assert catalog["messages"], "no script message translated"


def test_detail_page_and_flash_in_french(client: Any, auth: Any, make_job: Any) -> None:
    job_id = make_job("running")
    _german(client, auth, "fr")
    page = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert 'data-status="running">En cours' in page
    assert "Back to jobs" not in page
    # A domain error is flashed in the user's language.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = client.post(
        f"/admin/jobs/{job_id}/delete",
        data={"csrf_token": token.group(1), "url": f"/admin/jobs/details/?id={job_id}"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"job {job_id} is running" not in done
    assert "En cours" in done


def test_relative_times_and_durations_follow_the_locale(app: Flask) -> None:
    import datetime as dt

    from flask_babel import refresh

    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    # Flask-Babel keeps the locale on ``g``, which the fixture's app context shares between
    # these two request contexts (a real request has its own).
    with app.test_request_context("/"):
        refresh()
        assert fmt.relative_time(now - dt.timedelta(minutes=5), now) == "5 min. ago"
        assert fmt.seconds(185) == "3 min 5 s"
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        refresh()
        assert fmt.relative_time(now - dt.timedelta(minutes=5), now) == "vor 5 Min."
        assert fmt.relative_time(now - dt.timedelta(seconds=5), now) != "just now"
        assert i18n.format_number(12345) == "12.345"
        assert fmt.utc(now) == "06.12.2026, 12:00:00 UTC"


# -- no string escapes extraction -----------------------------------------------------------

#: A pseudo-translation: every message of ours comes out between these marks.
OPEN, CLOSE = "\u27ea", "\u27eb"


class _Texts(html.parser.HTMLParser):
    """The text and the readable attributes of the page's main content (not the navbar)."""

    SKIP = {"script", "style", "nav", "noscript", "code", "pre"}
    ATTRS = ("title", "aria-label", "placeholder", "alt", "data-confirm", "data-confirm-title")

    def __init__(self) -> None:
        super().__init__()
        self.skipping = 0
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        if not self.skipping:
            self.found += [v for k, v in attrs if k in self.ATTRS and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if self.skipping or not data.strip():
            return
        if data.strip()[:1] in '{["':
            # Flask-Admin's data for its scripts (filter groups, messages) in hidden divs.
            try:
                self._walk(json.loads(data))
                return
            except ValueError:
                pass
        self.found.append(data)

    def _walk(self, value: Any) -> None:
        if isinstance(value, str):
            # Machine words (argument names, widget types) are not text.
            if not re.fullmatch(r"[a-z0-9_-]*", value):
                self.found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                self._walk(item)
        elif isinstance(value, list):
            for item in value:
                self._walk(item)


def _pseudo_catalogue(tmp_path: Path) -> Path:
    """The template of every message, each translated to itself between marks, compiled as the
    catalogue of Esperanto (a locale Babel knows and jobs_admin does not ship)."""
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale="eo", domain="jobs_admin")
    for key, message in _extracted().items():
        if isinstance(message, str):
            catalog.add(key, OPEN + key + CLOSE)
        else:
            catalog.add(tuple(message[:2]), (OPEN + message[0] + CLOSE, OPEN + message[1] + CLOSE))
    folder = tmp_path / "translations" / "eo" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "jobs_admin.mo").open("wb") as f:
        write_mo(f, catalog)
    return tmp_path / "translations"


def _outside(text: str) -> str:
    """What of ``text`` is not inside a pseudo-translated message (messages nest: an action's
    name inside "%(action)s job %(id)s")."""
    inner = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
    while True:
        # A NUL stands for the message, so "Sort by %(name)s" still matches Flask-Admin's.
        rest = inner.sub("\x00", text)
        if rest == text:
            return rest
        text = rest


def test_no_string_of_the_list_and_detail_escapes_the_catalogue(
    app: Flask, client: Any, auth: Any, make_job: Any, jobs: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from flask_babel import Domain

    monkeypatch.setattr(i18n, "_domain", Domain(str(_pseudo_catalogue(tmp_path)), "jobs_admin"))
    ids = [make_job(status) for status in ("pending", "running", "failed", "completed")]
    auth.login("admin")
    # Esperanto is not a demo language: ask for it the way a browser does.
    headers = {"Accept-Language": "eo"}
    from host_app import language

    monkeypatch.setitem(language.LANGUAGES, "eo", "Esperanto")
    data: set[str] = set()
    for job_id in ids:
        job = jobs.get(job_id)
        data |= {str(v) for v in (job.name, job.type, job.created_by, job.reference, job.phase)}
        data |= {str(v) for v in (job.message, job.error, job.worker, job.status)}
    # The type filter and the run form offer every registered type by its title and name.
    data |= {t.title for t in jobs.registry} | {t.name for t in jobs.registry}
    # The history's status events are stored text (the runner's words), like the log.
    with app.app_context():
        event = jobs.models.JobEvent
        data |= {str(m) for m in jobs.db.session.scalars(sa.select(event.message))}
    # Flask-Admin's own strings (its catalogue): not ours to translate.
    admin_po = Path(flask_admin.__file__).parent / "translations" / "de" / "LC_MESSAGES"
    with (admin_po / "admin.po").open("rb") as f:
        # Not the bare "%(name)s"-like ones: as patterns they would match anything.
        ids_theirs = [
            m.id
            for m in read_po(f)
            if isinstance(m.id, str) and re.search(r"[A-Za-z]{2}", re.sub(r"%\(\w+\)s", "", m.id))
        ]
    theirs = [
        re.compile(re.sub(r"%\\\((\w+)\\\)s", ".+", re.escape(t.rstrip(".")))) for t in ids_theirs
    ]
    allowed = re.compile(r"^[\W\d_]*$")  # numbers, punctuation, ids
    # Babel's timestamps in the locale (split at the colons and commas): "6 Dec 2026", "01 UTC".
    dated = re.compile(r"UTC$|^\d{1,2} \w{3,}\.? \d{4}$|^\w{3,}\.? \d{1,2}$")
    escaped: set[str] = set()
    for url in ["/admin/jobs/", f"/admin/jobs/details/?id={ids[2]}", "/admin/jobs/new"]:
        page = client.get(url, headers=headers).get_data(as_text=True)
        assert OPEN in page, url
        # An empty inline element is a slot a script fills (a count): it stands for a value
        # inside its message, like a placeholder.
        page = re.sub(r"<span[^>]*></span>", "\x00", page)
        parser = _Texts()
        parser.feed(page)
        for text in parser.found:
            rest = _outside(text)
            for chunk in re.split(r"\s*[·|:,()]\s*|\s{2,}", rest):
                chunk = chunk.strip(" .…—-#/")
                if not chunk or allowed.match(chunk) or chunk in data or dated.search(chunk):
                    continue
                if any(t.fullmatch(chunk) for t in theirs):
                    continue
                bare = chunk.strip("\x00 -")
                if any(bare in d for d in data if d) or bare == "Shop admin":
                    continue
                # Flask-Admin's page sizes: '{} items'.format(n), untranslatable in Flask-Admin.
                if re.fullmatch(r"\d+ items?", chunk):
                    continue
                escaped.add(chunk)
    assert not escaped, f"strings shown without the catalogue: {sorted(escaped)[:30]}"
