"""The private methods of other libraries that the live socket relies on, pinned by source.

:class:`jobs_admin.live._socket.LiveSocket` replaces simple-websocket's ``Base._handle_events`` and
``Base.close`` and wraps ``Base._thread`` (read from simple-websocket 1.1.0), and
:func:`jobs_admin.live.websocket.reload_user` calls Flask-Login's ``LoginManager._load_user`` (read
from Flask-Login 0.6.3). None of them is public: when an upgrade changes one, this test fails so
that a maintainer reads the new version against ours before it ships, then records its hash.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import flask_login
import pytest
from simple_websocket.ws import Base, Server

#: (what, the function, the sha256 prefix of its source as we read it)
PINNED: list[tuple[str, Callable[..., Any], str]] = [
    ("simple_websocket Base._handle_events", Base._handle_events, "fa982a271583fe76"),
    ("simple_websocket Base._thread", Base._thread, "da9a912028a48435"),
    ("simple_websocket Base.close", Base.close, "c3b710ade5278edb"),
    ("simple_websocket Server.__init__", Server.__init__, "daea66f7fe24d320"),
    (
        "flask_login LoginManager._load_user",
        flask_login.LoginManager._load_user,
        "0d6e4d0e46a4c346",
    ),
]


@pytest.mark.parametrize(("what", "func", "digest"), PINNED, ids=[p[0] for p in PINNED])
def test_live_internals_we_override_are_the_versions_we_read(
    what: str, func: Callable[..., Any], digest: str
) -> None:
    source = inspect.getsource(func)
    found = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert found == digest, (
        f"{what} changed upstream (sha256 {found}): re-read it against LiveSocket"
        " (jobs_admin/live/_socket.py) and reload_user (jobs_admin/live/websocket.py),"
        " adapt ours, then record the new hash here"
    )
