"""One websocket's place in the live feed: what its user may see, and its outgoing queue."""

from __future__ import annotations

import contextlib
import queue
import time
from typing import Any

#: Messages waiting for one socket before it counts as too slow and is closed (it reconnects).
QUEUE_LIMIT = 64

#: Close code for a socket the feed dropped because it read too slowly: "try again later".
TRY_AGAIN = 1013
#: Close code when the server stops: "going away".
GOING_AWAY = 1001
#: Close code for a socket over ``JOBS_ADMIN_LIVE_MAX_SOCKETS[_PER_USER]``: the page says "Too
#: many open tabs" and tries again only slowly.
TOO_MANY = 4429


#: What a socket's user may see: (``None`` for every creator's jobs or the user's identity, the
#: :func:`scope_key` of the host's ``visible_jobs`` condition or ``None``). Sockets of one
#: audience share their counts and messages.
Audience = tuple[str | None, str | None]


def scope_key(scope: Any) -> str | None:
    """A key that is equal for equal SQL conditions (``None`` for none): its SQL and values."""
    if scope is None:
        return None
    compiled = scope.compile()
    values = sorted(compiled.params.items(), key=lambda item: item[0])
    return f"{compiled}|{values!r}"


class Subscriber:
    """One websocket's place in the feed: what its user may see, and its outgoing queue.

    :param sees_all: the user may see every job (``view_all``).
    :param own: the user's identity (``created_by`` of their own jobs).
    :param since: the cursor the browser had (of the page, or the last message), or ``None``.
    :param scope: the host's ``@jobs.visible_jobs`` condition for the user, or ``None``.
    """

    def __init__(
        self, sees_all: bool, own: str | None, since: str | None, scope: Any = None
    ) -> None:
        self.sees_all = sees_all
        self.own = own
        self.scope = scope
        self.scope_key = scope_key(scope)
        self.since = since
        #: Rows already sent in the catch-up: skipped until the feed's cursor covers this.
        self.skip: str | None = None
        self.queue: queue.Queue[str | None] = queue.Queue(QUEUE_LIMIT)
        self.last_counts: dict[str, int] | None = None
        self.last_sent = time.monotonic()
        #: Why the feed dropped this socket (then its handler closes it), or ``None``.
        self.closed: str | None = None
        self.close_code = GOING_AWAY
        #: ``(sees_all, own, scope)`` to switch to at the feed's next read
        #: (see :meth:`LiveFeed.review`).
        self.next_view: tuple[bool, str | None, Any] | None = None

    @property
    def who(self) -> str | None:
        """``None`` for users who see every creator's jobs, else the creator whose they see."""
        return None if self.sees_all else (self.own or "")

    @property
    def audience(self) -> Audience:
        """What this socket's user may see; equal for sockets that get the same messages."""
        return (self.who, self.scope_key)

    def offer(self, message: str) -> None:
        """Queue ``message``; drop the socket if it is too far behind."""
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.drop("too slow: reconnect", TRY_AGAIN)
        else:
            self.last_sent = time.monotonic()

    def drop(self, reason: str, code: int = GOING_AWAY) -> None:
        """Ask the socket's handler to close it."""
        if self.closed is None:
            self.closed, self.close_code = reason, code
        # When full, the handler still sees ``closed`` after its next message or second.
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)

    def sees_removal(self, removed: dict[str, Any]) -> bool:
        """Whether this socket's user is told that a job was deleted: every deletion, or only
        those of their own jobs. The host condition cannot be asked about a job that is gone:
        a user it narrows is told the id (only the id) of every deletion their creator filter
        lets through; a page without the row ignores it."""
        return self.sees_all or (bool(self.own) and removed["created_by"] == self.own)

    def visible(self, job: dict[str, Any], allowed: dict[str, set[int]] | None = None) -> bool:
        """Whether this socket's user may see ``job``: every job, or only their own, and of
        those only the ones its host condition selects.

        :param allowed: scope key -> ids of this read's jobs that meet that condition.
        """
        if not (self.sees_all or (bool(self.own) and job["created_by"] == self.own)):
            return False
        if self.scope_key is None:
            return True
        return allowed is not None and job["id"] in allowed.get(self.scope_key, ())
