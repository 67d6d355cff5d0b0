"""The live-updates websocket, ``GET <admin url>/jobs/ws`` on the ``jobs_admin`` blueprint.

The handshake is refused (an HTTP error, before any upgrade) unless:

* the ``Origin`` header names the admin's own origin (or one of ``JOBS_ADMIN_LIVE_ORIGINS``):
  a page on another site cannot open a socket with the admin's session cookie. A handshake
  without ``Origin`` comes from a program, not a browser, and is let through to the next checks;
* the admin's session has a logged-in user (401 otherwise) who has the ``view`` permission (403).

CSRF tokens do not apply to a GET handshake; the origin check is what stops cross-site use. The
socket then receives what :mod:`jobs_admin.live` sends. It holds one server thread while it is
open (a gunicorn ``gthread`` thread, a thread of ``flask run``): size the thread pool for it.

Once open, a socket is closed with a code from the private range, which the page shows instead
of reconnecting at once:

* :data:`~jobs_admin.live.subscriber.TOO_MANY` (4429) at once when it is over
  ``JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER`` or ``JOBS_ADMIN_LIVE_MAX_SOCKETS``;
* :data:`SIGNED_OUT` (4401) or :data:`FORBIDDEN` (4403) when a recheck, every
  ``JOBS_ADMIN_LIVE_RECHECK`` seconds, finds the session logged out or the user without
  ``view``; a user who lost ``view_all`` gets only their own jobs from then on.

The client sends nothing in this protocol. Its messages are read and dropped as they arrive,
never buffered; one larger than ``SOCK_SERVER_OPTIONS["max_message_size"]`` closes the socket
(1009), and so does a flood of messages or pings (1008). Compression (permessage-deflate) is
not offered: a few bytes on the wire must not become megabytes in the server.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, Request, Response, current_app, g, request
from simple_websocket import ConnectionClosed
from wsproto.utilities import LocalProtocolError

from .. import permissions
from ..runtime import runtime_of
from ..service import live_feed
from ._socket import CLOSE_WAIT, LiveSocket, _Done
from .subscriber import TOO_MANY, Subscriber

if TYPE_CHECKING:
    from ..runtime import Runtime

#: The endpoint of the websocket on the blueprint (``url_for("jobs_admin.ws")``).
ENDPOINT = "ws"

#: Close code for a socket whose session has no logged-in user any more: the page shows "Signed
#: out" and does not reconnect.
SIGNED_OUT = 4401
#: Close code for a socket whose user lost the ``view`` permission: shown the same way.
FORBIDDEN = 4403
#: Close code for a socket whose user could not be checked again several times in a row (the
#: host's user loader or checker raised): "internal error", the page reconnects later.
SERVER_ERROR = 1011
#: Rechecks in a row that may fail before the socket is closed with :data:`SERVER_ERROR`.
RECHECK_FAILURES = 3
#: Seconds a socket refused over the caps waits for the client's answer to its close frame.
REFUSED_WAIT = 0.2


log = logging.getLogger("jobs_admin.live")

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or ``None`` if invalid."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def same_origin(req: Request, allowed: tuple[str, ...] = ()) -> bool:
    """Whether the request's ``Origin`` is the host it was sent to, or one of ``allowed``.

    The scheme is not compared with the request's (behind a TLS-terminating proxy the app sees
    ``http``); host and port are, against the ``Host`` header the browser sent.
    """
    origin = req.headers.get("Origin")
    if origin is None:
        return True
    normalized = normalize_origin(origin)
    if normalized is None:
        return False  # "null" (a sandboxed frame, a file) or garbage
    if normalized in allowed:
        return True
    scheme, _, netloc = normalized.partition("://")
    host = req.host.lower()
    default = _DEFAULT_PORTS[scheme]
    if host.endswith(f":{default}") and not host.endswith("]"):
        host = host[: -len(default) - 1]
    return netloc == host


def register(bp: Blueprint, path: str) -> None:
    """Add the websocket at ``path`` to ``bp`` (before the blueprint is registered)."""

    @bp.before_request
    def _handshake() -> Any:
        if request.endpoint != f"{bp.name}.{ENDPOINT}":
            return None
        return refuse(runtime_of())

    def _ws() -> Response:
        options = current_app.config.get("SOCK_SERVER_OPTIONS", {})
        ws = LiveSocket(
            request.environ,
            ping_interval=options.get("ping_interval"),
            max_message_size=int(options.get("max_message_size") or 4096),
            receive_bytes=int(options.get("receive_bytes") or 4096),
        )
        code = None
        with contextlib.suppress(ConnectionClosed):
            code = serve(runtime_of(), ws)
        with contextlib.suppress(Exception):
            ws.close()
        # Let the client answer our close frame before the server closes the connection (see
        # LiveSocket.close). Briefly for a socket over the caps: a client that never answers
        # must not hold a server thread per attempt, the very thing the caps prevent.
        ws.thread.join(REFUSED_WAIT if code == TOO_MANY else CLOSE_WAIT)
        ws.connected = False
        # Shut in every server: the reader thread ends at once instead of waiting on a socket
        # the client keeps open. Under Werkzeug it also matters for the close code: Werkzeug
        # writes the view's HTTP response after the frames, which a browser parses as a broken
        # frame and reports as 1006; with the socket shut, that write fails quietly.
        with contextlib.suppress(OSError):
            ws.sock.shutdown(socket.SHUT_RDWR)
        done = _Done()
        done.mode = ws.mode
        return done

    # ``websocket=True``: the rule matches only a websocket handshake (400 for a plain GET).
    bp.add_url_rule(path, ENDPOINT, _ws, websocket=True)


def refuse(rt: Runtime) -> Response | None:
    """The HTTP response that refuses this handshake, or ``None`` to accept it."""
    if not same_origin(request, rt.settings.live_origins):
        return Response("cross-origin websocket refused\n", 403, mimetype="text/plain")
    access = rt.access
    user = access.current_user()
    if user is None:
        return Response("log in to the admin first\n", 401, mimetype="text/plain")
    if not access.can(permissions.VIEW, user=user):
        return Response("the 'view' permission is needed\n", 403, mimetype="text/plain")
    g.jobs_admin_live = (
        access.can(permissions.VIEW_ALL, user=user),
        access.identity(user),
        request.args.get("since") or None,
        access.host_visibility(user),
    )
    return None


def reload_user(rt: Runtime, environ: dict[str, Any]) -> Any:
    """The user that the session of the request ``environ`` has now, as a request would load it.

    A request context of its own is pushed for the handshake's request, so the session is
    opened again through the app's session interface (a cookie session that expired is empty,
    a server-side session deleted at logout is gone), then the user is loaded as for any
    request: by the host's ``@jobs.current_user`` hook, or by Flask-Login's login manager (its
    user loader, remember cookie, request loader). A host that revokes sessions by changing
    the user's ``get_id()`` token, or whose loader returns ``None``, logs the socket out.

    :param rt: the runtime of the socket's app.
    :param environ: the WSGI environ of the socket's handshake.
    :returns: the user, or ``None`` when the session has no logged-in user (or the app has
        neither a ``@jobs.current_user`` hook nor Flask-Login).
    """
    with rt.app.request_context(dict(environ)):
        # Flask-Login keeps the user it loaded in ``g``, which this thread's app context may
        # share with an earlier check: forget it before and after, so the user is loaded anew.
        g.pop("_login_user", None)
        try:
            return rt.access.current_user()
        finally:
            g.pop("_login_user", None)


def recheck(rt: Runtime, sub: Subscriber, environ: dict[str, Any]) -> None:
    """Check again that the socket's user is logged in and has ``view``; drop it if not.

    A user who gained or lost ``view_all`` (or got another identity) gets what the new
    permissions allow from the feed's next read on.

    :param environ: the WSGI environ of the socket's handshake.
    """
    access = rt.access
    try:
        user = reload_user(rt, environ)
        if user is None:
            sub.drop("signed out", SIGNED_OUT)
            return
        if not access.can(permissions.VIEW, user=user):
            sub.drop("the 'view' permission was withdrawn", FORBIDDEN)
            return
        live_feed(rt).review(
            sub,
            access.can(permissions.VIEW_ALL, user=user),
            access.identity(user),
            access.host_visibility(user),
        )
    finally:
        # The user loader may have used the session: the socket must not hold a connection.
        rt.db.session.remove()


def serve(rt: Runtime, ws: Any) -> int | None:
    """Pass the feed's messages for this socket to it until either side closes.

    Every ``JOBS_ADMIN_LIVE_RECHECK`` seconds, before it sends anything more, the socket's user
    is checked again (:func:`recheck`).
    """
    sees_all, own, since, scope = g.jobs_admin_live
    environ = request.environ
    # The user is loaded; give the database connection back: the socket may stay for hours.
    rt.db.session.remove()
    every = rt.settings.live_recheck
    feed = live_feed(rt)
    sub = Subscriber(sees_all, own, since, scope)
    feed.subscribe(sub)

    def ended() -> None:
        feed.unsubscribe(sub)
        with contextlib.suppress(queue.Full):
            sub.queue.put_nowait(None)

    ws.on_end = ended
    if not ws.connected:
        ended()
    due = time.monotonic() + every
    failures = 0
    try:
        while sub.closed is None:
            try:
                message = sub.queue.get(timeout=min(1.0, max(due - time.monotonic(), 0.0)))
            except queue.Empty:
                if not ws.connected:
                    break
                message = ""
            if message is None:
                break
            if time.monotonic() >= due:
                try:
                    recheck(rt, sub, environ)
                    failures = 0
                except Exception:
                    # The database is away, say: the feed cannot read either; try again later.
                    # But a socket whose user cannot be checked does not stream for ever.
                    failures += 1
                    log.exception("jobs_admin live socket could not recheck its user")
                    if failures >= RECHECK_FAILURES:
                        sub.drop("could not check the session", SERVER_ERROR)
                due = time.monotonic() + every
                if sub.closed is not None:
                    break
            if message:
                if getattr(ws, "closing", False):
                    # The connection is closing (our close frame went out: a ping timeout, a
                    # flood): wsproto would refuse the message. Nothing more to send.
                    break
                try:
                    ws.send(message)
                except LocalProtocolError:
                    break  # it started closing between the check and the send
    finally:
        feed.unsubscribe(sub)
    if sub.closed is not None and ws.connected:
        ws.close(reason=sub.close_code, message=sub.closed)
    return sub.close_code if sub.closed is not None else None
