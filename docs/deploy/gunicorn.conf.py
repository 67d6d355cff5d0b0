"""Example gunicorn settings for the shop: ``gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app``.

Threads (``gthread``) because the admin's requests are short and, with
``JOBS_ADMIN_WORKER = "embedded"``, the jobs share the process. With ``FLASK_JOBS_ADMIN_WORKER=off``
(see shop.env) these processes only serve the admin and ``flask jobs worker`` runs the jobs.
"""

import os

bind = os.environ.get("SHOP_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("SHOP_WEB_WORKERS", "2"))
threads = int(os.environ.get("SHOP_WEB_THREADS", "8"))
# Longer than JOBS_ADMIN_SHUTDOWN_GRACE (30 s), so that embedded job runners can hand their
# jobs back to the queue before gunicorn kills the worker.
graceful_timeout = 35
timeout = 60
# No preload: each worker process starts its own scheduler lazily, on its first request.
preload_app = False
accesslog = "-"
