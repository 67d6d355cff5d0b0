"""The peers' no-op and latency-stamp tasks, importable by their workers by dotted path.

RQ imports ``_peers.rq_noop``; Procrastinate's app is built by :func:`procrastinate_app` with the
same tasks. Both use their documented APIs only.
"""

from __future__ import annotations

import time
from typing import Any


def rq_noop() -> None:
    """The RQ no-op job."""
    return None


def rq_stamp(t0: float, out: str) -> None:
    """Append the enqueue-to-start latency to ``out``."""
    started = time.time()
    with open(out, "a") as fh:
        fh.write(f"{started - t0:.6f}\n")


def procrastinate_app(conninfo: str, sync: bool = False) -> Any:
    """A Procrastinate app on ``conninfo`` with the ``noop`` and ``stamp`` tasks."""
    import procrastinate

    connector = (
        procrastinate.SyncPsycopgConnector(conninfo=conninfo)
        if sync
        else procrastinate.PsycopgConnector(conninfo=conninfo)
    )
    app = procrastinate.App(connector=connector)

    @app.task(name="noop", queue="bench")
    def noop() -> None:
        return None

    @app.task(name="stamp", queue="bench")
    def stamp(t0: float, out: str) -> None:
        started = time.time()
        with open(out, "a") as fh:
            fh.write(f"{started - t0:.6f}\n")

    return app
