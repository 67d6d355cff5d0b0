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
# One user may hold half of those, so one user's tabs never take every socket of a worker.
# The workers load the app after this file ran (no preload), and the demo host reads FLASK_*
# variables: explicit FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS[_PER_USER] in the environment
# (shop.env, say) win.
live_sockets = max(1, threads // 2)
os.environ.setdefault("FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS", str(live_sockets))
os.environ.setdefault("FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER", str(max(1, live_sockets // 2)))
# What a stop or a deploy does to the embedded worker (JOBS_ADMIN_WORKER = "embedded"): on
# SIGTERM (or SIGINT/SIGQUIT) to the master, each worker process stops accepting requests,
# finishes those under way, and then runs ``worker_exit`` below, which calls
# ``jobs.stop_worker()``: it stops claiming jobs at once, keeps the running jobs' heartbeats
# going, asks every cancellable job to stop at its next ``ctx.check_cancelled()`` and waits up
# to JOBS_ADMIN_SHUTDOWN_GRACE (30 s) for them. A cancellable job goes back to the queue
# pending and "Paused", its progress kept and no attempt spent; the next worker (this
# deploy's new processes, or any ``flask jobs worker``) resumes it where it stopped. A
# job that cannot be cancelled and is still running after the grace is left to the rescue:
# another worker requeues or fails it after JOBS_ADMIN_STALE_AFTER. The process exits as
# soon as its jobs are handed back, not after the whole grace.
# graceful_timeout is longer than the grace, so gunicorn never kills a worker while it hands
# its jobs back.
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


def worker_exit(server, worker):
    """Stop the embedded jobs worker before the process exits: its running jobs hand themselves
    back (see the comment on ``graceful_timeout``).

    gunicorn calls it in the worker process once the worker stopped serving, whatever stopped
    it, before the interpreter shuts down; it does not depend on the order of exit handlers.
    """
    app = getattr(worker, "wsgi", None)
    jobs = app.extensions.get("jobs_admin") if app is not None else None
    if jobs is None:
        return  # the app never loaded
    with app.app_context():
        left = jobs.stop_worker(wait=True)
    if left:
        server.log.warning(
            "jobs %s could not stop within JOBS_ADMIN_SHUTDOWN_GRACE; the rescue settles them",
            left,
        )
