"""Example gunicorn settings for the shop: ``gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app``.

Threads (``gthread``) because the admin's requests are short and, with
``JOBS_ADMIN_WORKER = "embedded"``, the jobs share the process. With ``FLASK_JOBS_ADMIN_WORKER=off``
(see shop.env) these processes only serve the admin and ``flask jobs worker`` runs the jobs.
"""

import os

bind = os.environ.get("SHOP_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("SHOP_WEB_WORKERS", "2"))
# Each open live-updates websocket (one per admin browser tab on the Jobs pages) holds a thread
# for as long as it is open: threads = tabs expected per worker process + headroom for requests.
threads = int(os.environ.get("SHOP_WEB_THREADS", "8"))
# Sockets may take at most half of each worker's threads, so open tabs never starve /login and
# the admin's pages; a tab past the cap says "Too many open tabs" and retries once a minute.
# One user may hold JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER (4) of them. The workers load the app
# after this file ran (no preload), and the demo host reads FLASK_* variables: an explicit
# FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS in the environment (shop.env, say) wins.
os.environ.setdefault("FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS", str(max(1, threads // 2)))
# Longer than JOBS_ADMIN_SHUTDOWN_GRACE (30 s), so that embedded job runners can hand their
# jobs back to the queue before gunicorn kills the worker.
graceful_timeout = 35
timeout = 60
# No preload: each worker process starts its own scheduler lazily, on its first request.
preload_app = False
accesslog = "-"


def post_worker_init(worker):
    """On a graceful stop (SIGTERM), close the live-updates websockets at once.

    Open sockets count as requests in progress: without this, every stop or reload would wait
    ``graceful_timeout`` for them. The browsers reconnect (to another worker) and catch up.
    """
    import signal

    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum, frame):
        worker.wsgi.extensions["jobs_admin"].stop_live(worker.wsgi, timeout=1.0)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stop)
