"""The live-updates websocket, ``GET <admin url>/jobs/ws`` on the ``jobs_admin`` blueprint.

The handshake is refused (an HTTP error, before any upgrade) unless:

* the ``Origin`` header names the admin's own origin (or one of ``JOBS_ADMIN_LIVE_ORIGINS``):
  a page on another site cannot open a socket with the admin's session cookie. A handshake
  without ``Origin`` comes from a program, not a browser, and is let through to the next checks;
* the admin's session has a logged-in user (401 otherwise) who has the ``view`` permission (403).

CSRF tokens do not apply to a GET handshake; the origin check is what stops cross-site use. The
socket then receives what :mod:`jobs_admin.live` sends. It holds one server thread while it is
open (a gunicorn ``gthread`` thread, a thread of ``flask run``): size the thread pool for it.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, Request, Response, g, request
from flask_sock import Sock

from . import permissions
from .live import Subscriber

if TYPE_CHECKING:
    from .extension import JobsAdmin

#: The endpoint of the websocket on the blueprint (``url_for("jobs_admin.ws")``).
ENDPOINT = "ws"

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


def register(bp: Blueprint, jobs: JobsAdmin, path: str) -> None:
    """Add the websocket at ``path`` to ``bp`` (before the blueprint is registered)."""
    sock = Sock()

    @bp.before_request
    def _handshake() -> Any:
        if request.endpoint != f"{bp.name}.{ENDPOINT}":
            return None
        return refuse(jobs)

    @sock.route(path, bp=bp, endpoint=ENDPOINT)
    def _ws(ws: Any) -> None:
        serve(jobs, ws)


def refuse(jobs: JobsAdmin) -> Response | None:
    """The HTTP response that refuses this handshake, or ``None`` to accept it."""
    if not same_origin(request, jobs.settings().live_origins):
        return Response("cross-origin websocket refused\n", 403, mimetype="text/plain")
    user = permissions.current_user_or_none()
    if user is None:
        return Response("log in to the admin first\n", 401, mimetype="text/plain")
    if not jobs.can(permissions.VIEW, user=user):
        return Response("the 'view' permission is needed\n", 403, mimetype="text/plain")
    g.jobs_admin_live = (
        jobs.can(permissions.VIEW_ALL, user=user),
        jobs.identity(user),
        request.args.get("since") or None,
    )
    return None


def serve(jobs: JobsAdmin, ws: Any) -> None:
    """Pass the feed's messages for this socket to it until either side closes."""
    sees_all, own, since = g.jobs_admin_live
    # The user is loaded; give the database connection back: the socket may stay for hours.
    jobs.db.session.remove()
    feed = jobs.live_feed()
    sub = Subscriber(sees_all, own, since)
    feed.subscribe(sub)
    try:
        while sub.closed is None:
            try:
                message = sub.queue.get(timeout=1.0)
            except queue.Empty:
                if not ws.connected:
                    break
                continue
            if message is None:
                break
            ws.send(message)
    finally:
        feed.unsubscribe(sub)
    if sub.closed is not None and ws.connected:
        ws.close(reason=sub.close_code, message=sub.closed)
