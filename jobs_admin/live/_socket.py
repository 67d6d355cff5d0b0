"""The server side of a live socket: simple-websocket's, for a client that only listens.

See :class:`LiveSocket`. The handshake's checks and what the socket sends live in
:mod:`jobs_admin.live.websocket`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from flask import Response
from simple_websocket import ConnectionClosed, Server
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.events import (
    Request as WSRequest,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

#: Client frames (messages, message fragments, pings, pongs) a socket may send at once...
CLIENT_BURST = 16
#: ...and per second after that; more closes it with 1008 (policy violation).
CLIENT_RATE = 2.0

#: Seconds a closing socket waits for the client's answer to its close frame.
CLOSE_WAIT = 2.0


class LiveSocket(Server):
    """simple-websocket's server side for a socket the client only listens to.

    simple-websocket keeps every message a client sends until the application reads it, and it
    accepts permessage-deflate whenever a client offers it; the feed never reads, so a client
    could fill the server's memory (10,000 messages of 4 KB kept 40 MB; deflated, 0.65 MB on
    the wire kept 105 MB). This subclass handles the connection's events itself, in the
    library's reader thread as the library does: it accepts the handshake without extensions,
    answers pings, and drops client messages as they arrive, closing the socket on one that is
    too big or on a flood. It replaces ``_handle_events`` (written after simple-websocket 1.1's,
    hence the ``<2`` pin) and :meth:`close`, and wraps ``_thread`` to report the end of the
    connection (:attr:`on_end`); the library's globals are left alone.

    :param environ: the handshake request's WSGI environ.
    :param ping_interval: seconds between the server's pings (``None``: none).
    :param max_message_size: the largest client message in bytes; a bigger one closes the socket.
    :param receive_bytes: bytes read from the network at a time.
    """

    def __init__(
        self,
        environ: dict[str, Any],
        *,
        ping_interval: float | None = None,
        max_message_size: int = 4096,
        receive_bytes: int = 4096,
    ) -> None:
        # Set before the base class runs the handshake and starts the reader thread.
        self.tokens = float(CLIENT_BURST)
        self.refilled = time.monotonic()
        self.message_bytes = 0
        #: Client frames received and dropped (tests, and a curious operator).
        self.dropped = 0
        #: Called in the reader thread when the connection ends, however it ends.
        self.on_end: Callable[[], None] | None = None
        #: Set when the server sent its close frame and waits for the client's answer.
        self.closing = False
        super().__init__(
            environ,
            receive_bytes=receive_bytes,
            ping_interval=ping_interval,
            max_message_size=max_message_size,
        )

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        """Send a close frame; the reader thread goes on until the client answers it.

        simple-websocket's own ``close`` stops reading at once, and the connection is then
        closed with the client's answer unread: the client sees a reset, and a browser that sees
        it first reports 1006 instead of the code sent ("Too many open tabs", "Signed out").
        """
        if self.closing:
            return
        if not self.connected:
            raise ConnectionClosed(self.close_reason, self.close_message)
        self.closing = True
        out = self.ws.send(CloseConnection(reason or CloseReason.NORMAL_CLOSURE, message))
        with contextlib.suppress(OSError):
            self.sock.send(out)

    def _thread(self) -> None:
        try:
            super()._thread()
        finally:
            # The handler waits on the feed's queue, not on the network: tell it at once, so
            # that a closed tab frees its place under the socket caps now, not a second later.
            if self.on_end is not None:
                self.on_end()

    def _handle_events(self) -> bool:
        keep_going = True
        out = b""
        for event in self.ws.events():
            try:
                if isinstance(event, WSRequest):
                    self.subprotocol = self.choose_subprotocol(event)
                    out += self.ws.send(AcceptConnection(subprotocol=self.subprotocol))
                elif isinstance(event, CloseConnection):
                    if not self.closing:  # else this is the answer to ours
                        out += self.ws.send(event.response())
                        self.close_reason, self.close_message = event.code, event.reason
                    self.connected = False
                    self.event.set()
                    keep_going = False
                elif isinstance(event, (TextMessage, BytesMessage, Ping, Pong)):
                    refusal = self._inbound(event)
                    if refusal is not None:
                        code, reason = refusal
                        out += self.ws.send(CloseConnection(code, reason))
                        self.close_reason, self.close_message = code, reason
                        self.event.set()
                        keep_going = False
                        break
                    if isinstance(event, Ping):
                        out += self.ws.send(event.response())
                    elif isinstance(event, Pong):
                        self.pong_received = True
            except LocalProtocolError:
                out = b""
                self.event.set()
                keep_going = False
        if out:
            self.sock.send(out)
        return keep_going

    def _inbound(self, event: Any) -> tuple[int, str] | None:
        """Count a client frame and drop it; the close code and reason if it is one too many."""
        now = time.monotonic()
        self.tokens = min(CLIENT_BURST, self.tokens + (now - self.refilled) * CLIENT_RATE)
        self.refilled = now
        self.tokens -= 1
        if self.tokens < 0:
            return CloseReason.POLICY_VIOLATION, "too many messages: this socket only sends"
        if isinstance(event, (TextMessage, BytesMessage)):
            self.dropped += 1
            self.message_bytes += len(event.data)
            if self.message_bytes > self.max_message_size:
                return CloseReason.MESSAGE_TOO_BIG, "message too big"
            if event.message_finished:
                self.message_bytes = 0
        return None


class _Done(Response):
    """What the websocket's view returns once the socket ended (as flask-sock's view does).

    The handshake's answer and every frame went out on the raw socket; under gunicorn the
    worker must not write an HTTP response after them.
    """

    mode = "werkzeug"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.mode == "werkzeug":
            return super().__call__(environ, start_response)
        if self.mode == "gunicorn":
            raise StopIteration()
        return []
