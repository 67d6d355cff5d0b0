"""Live updates: the change feed (:mod:`.feed`), each socket's place in it (:mod:`.subscriber`)
and the websocket that carries it (:mod:`.websocket`). What the pages hand to their script is
in :mod:`jobs_admin.admin._live`."""

from __future__ import annotations

from .feed import LiveFeed
from .subscriber import GOING_AWAY, TOO_MANY, TRY_AGAIN, Subscriber
from .websocket import FORBIDDEN, SIGNED_OUT

__all__ = [
    "FORBIDDEN",
    "GOING_AWAY",
    "SIGNED_OUT",
    "TOO_MANY",
    "TRY_AGAIN",
    "LiveFeed",
    "Subscriber",
]
