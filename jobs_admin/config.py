"""Defaults for every ``JOBS_ADMIN_*`` configuration key.

Each key is read once, in :meth:`jobs_admin.JobsAdmin.init_app`, from ``app.config``; a key the
host does not set takes the default below. The README's configuration table lists the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from .cron import parse as parse_cron

#: ``"embedded"``: the web processes run jobs (zero setup); ``"off"``: web processes only serve
#: the admin and ``flask jobs worker`` processes do the work.
WORKER = "embedded"

#: Executor threads per process, i.e. how many jobs one process runs at once.
CONCURRENCY = 4

#: Seconds between dispatcher polls when nothing woke it (a local enqueue wakes it at once).
POLL_INTERVAL = 1.0

#: Seconds of work a worker may claim beyond its free threads, judged by how long its recent
#: jobs ran: with jobs of 1 ms it claims many at once and writes their ends together; a job that
#: runs 0.1 s or more is claimed only for a free thread. ``0`` claims for free threads only.
CLAIM_AHEAD = 0.1

#: Seconds between heartbeats; one UPDATE per process for all of its running jobs.
HEARTBEAT_INTERVAL = 10.0

#: Seconds without a heartbeat before a running job counts as orphaned and is rescued.
STALE_AFTER = 60.0

#: Seconds a stopping worker waits for its running jobs before it exits.
SHUTDOWN_GRACE = 30.0

#: Housekeeping deletes finished jobs whose ``finished_at`` is older than this many days.
RETENTION_DAYS = 30

#: Crontab expression (UTC) of the built-in schedule ``jobs_admin.housekeeping``, which fires a
#: ``jobs_admin.prune`` job; ``None``: no housekeeping schedule.
HOUSEKEEPING_CRON: str | None = "0 3 * * *"

#: Seconds a schedule's tick missed while no worker ran stays worth firing: a worker that starts
#: fires the latest missed tick of each schedule once if it is younger than this, and records the
#: others as skipped (see the README's Schedules section).
SCHEDULE_CATCHUP = 3600.0

#: Jobs deleted per transaction by housekeeping and :meth:`JobsAdmin.prune` (one statement
#: each); ``None``: :data:`PRUNE_BATCH_POSTGRESQL` on PostgreSQL, :data:`PRUNE_BATCH_SQLITE` on
#: SQLite, where a batch holds the database's single write lock while it runs.
PRUNE_BATCH: int | None = None

#: Seconds SQLite's write lock stays free after each prune batch (the batch's WAL checkpoint runs
#: meanwhile), so that other writers (an enqueue, a worker) get their turn: their busy handler
#: retries about every 25 ms. Not used on PostgreSQL, whose writers do not queue on a prune.
PRUNE_PAUSE = 0.03

# The batch sizes of PRUNE_BATCH = None (docs/benchmarks.md, section 3): on PostgreSQL a million
# jobs went in 16-21 s with 5,000 per batch, 22 s with 1,000; on SQLite a batch of 1,000 holds
# the write lock 30-50 ms, and a writer queued behind it must not wait 200 ms.
PRUNE_BATCH_POSTGRESQL = 5000
PRUNE_BATCH_SQLITE = 1000

#: SQLite: put this process's jobs_admin writers (claims, ends, heartbeats, progress, prune) in
#: one first-come-first-served queue, so that a writer that commits and writes again at once
#: cannot keep SQLite's lock from one sleeping in its busy handler. Covers jobs_admin's own
#: connections only, never the host's statements.
SQLITE_WRITE_QUEUE = True

#: Largest accepted params, in bytes of their JSON encoding.
MAX_PARAMS_BYTES = 65536

#: CSV exports one process streams at once. Each holds a database connection (and on
#: PostgreSQL a transaction) for as long as its browser downloads: past this many, the export
#: is refused with a message, so slow downloads cannot take the pool.
MAX_EXPORTS = 4

#: Directory for result files; relative paths are taken from the app's instance folder.
RESULTS_DIR = "jobs_results"

#: Rows per page of the admin's job list.
PAGE_SIZE = 25

#: The job list's created-at range when the URL picks none: ``"today"`` (since midnight UTC),
#: ``"7d"``, ``"30d"`` or ``"all"``. A range the user picks (``"All"`` too) overrides it; the
#: KPI tiles count every job whatever the range.
DEFAULT_RANGE = "7d"

#: Seconds between reads of the live change feed (one feed per process, whatever the number of
#: browsers; it reads only while websockets are open, and at once on a commit: this process's,
#: PostgreSQL NOTIFY, or a change of SQLite's PRAGMA data_version).
LIVE_INTERVAL = 0.5

#: Origins (``"https://admin.example.com"``) besides the admin's own from which browsers may open
#: the live-updates websocket; a list, or one comma-separated string. The admin's own origin
#: (the ``Host`` the browser sent) is always allowed; every other is refused.
LIVE_ORIGINS: tuple[str, ...] = ()

#: Most live-updates websockets one user may hold open in one process (one per browser tab on
#: the Jobs pages); the next is closed at once with code 4429, "Too many open tabs".
LIVE_MAX_SOCKETS_PER_USER = 4

#: Most live-updates websockets one process holds open for all users together; each holds a
#: server thread, so under a thread pool (gunicorn ``gthread``) keep it to about half of the
#: pool's threads, leaving the rest to requests. The next socket is closed with code 4429.
LIVE_MAX_SOCKETS = 64

#: Seconds between two checks, per open websocket, that its session still has a logged-in user
#: with the ``view`` permission (the user is reloaded through Flask-Login and the permission
#: checker asked again); a socket whose user lost them is closed (code 4401 or 4403).
LIVE_RECHECK = 3.0

#: Minimum seconds between two progress writes of one running job (``advance`` is throttled).
PROGRESS_INTERVAL = 0.5

#: Most ``ctx.log`` lines a job keeps over all its runs; later lines are dropped and the run's
#: log ends with one line saying how many were (300,000 unbounded lines took 105 MB of database).
MAX_LOG_LINES = 10000

#: Put "My jobs" (the user's running count and latest jobs) in the navbar of every admin page,
#: with the "job finished" toasts: the admin's base template is wrapped at ``init_app``.
MY_JOBS = True

#: Days the rollups of job ends (the Insights charts, the metrics' totals) are kept; longer
#: than :data:`RETENTION_DAYS`, so the history outlives the jobs. (Minute rows are kept two
#: days and hour rows 32 days; day rows this long.)
STATS_RETENTION_DAYS = 90

#: Serve Prometheus metrics at ``<jobs url>/metrics``; off (404) unless true.
METRICS = False

#: A bearer token a scraper sends (``Authorization: Bearer <token>``) to read the metrics; a
#: logged-in user with ``view_all`` may read them too. ``None``: only such users.
METRICS_TOKEN: str | None = None

#: The values :data:`DEFAULT_RANGE` may take (the list's date-range presets).
RANGES = ("today", "7d", "30d", "all")


@dataclass(frozen=True)
class Settings:
    """The ``JOBS_ADMIN_*`` settings of one app, read once by ``init_app``."""

    worker: str
    concurrency: int
    poll_interval: float
    claim_ahead: float
    heartbeat_interval: float
    stale_after: float
    shutdown_grace: float
    retention_days: int
    housekeeping_cron: str | None
    schedule_catchup: float
    prune_batch: int | None
    prune_pause: float
    sqlite_write_queue: bool
    max_params_bytes: int
    max_exports: int
    results_dir: Path
    page_size: int
    default_range: str
    live_interval: float
    progress_interval: float
    live_origins: tuple[str, ...]
    max_log_lines: int
    live_max_sockets_per_user: int
    live_max_sockets: int
    live_recheck: float
    my_jobs: bool
    stats_retention_days: int
    metrics: bool
    metrics_token: str | None


def read_settings(config: Any, instance_path: str) -> Settings:
    """Read and check the ``JOBS_ADMIN_*`` keys of an app's config.

    :param config: the app's ``config`` mapping.
    :param instance_path: the app's instance folder, the base of a relative ``RESULTS_DIR``.
    :raises ValueError: a key holds a value that cannot work.
    """
    values: dict[str, Any] = {}
    for field in fields(Settings):
        key = field.name.upper()
        values[field.name] = config.get(f"JOBS_ADMIN_{key}", globals()[key])
    if values["worker"] not in ("embedded", "off"):
        raise ValueError(f"JOBS_ADMIN_WORKER must be 'embedded' or 'off', not {values['worker']!r}")
    if values["default_range"] not in RANGES:
        raise ValueError(
            f"JOBS_ADMIN_DEFAULT_RANGE must be one of {', '.join(map(repr, RANGES))},"
            f" not {values['default_range']!r}"
        )
    if values["prune_batch"] is not None:
        values["prune_batch"] = int(values["prune_batch"])
        if values["prune_batch"] < 1:
            raise ValueError("JOBS_ADMIN_PRUNE_BATCH must be at least 1 (or None)")
    for name in (
        "concurrency",
        "max_params_bytes",
        "max_exports",
        "page_size",
        "retention_days",
        "max_log_lines",
        "live_max_sockets_per_user",
        "live_max_sockets",
        "stats_retention_days",
    ):
        values[name] = int(values[name])
        if values[name] < 1:
            raise ValueError(f"JOBS_ADMIN_{name.upper()} must be at least 1")
    for name in (
        "poll_interval",
        "claim_ahead",
        "heartbeat_interval",
        "stale_after",
        "shutdown_grace",
        "live_interval",
        "progress_interval",
        "prune_pause",
        "live_recheck",
        "schedule_catchup",
    ):
        values[name] = float(values[name])
        if values[name] < 0:
            raise ValueError(f"JOBS_ADMIN_{name.upper()} must not be negative")
    if values["live_recheck"] <= 0:
        raise ValueError("JOBS_ADMIN_LIVE_RECHECK must be more than 0 seconds")
    cron = values["housekeeping_cron"] or None
    if cron is not None:
        # Checked here, not when a worker starts: a typo must not surface as a failing request.
        try:
            parse_cron(cron)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"JOBS_ADMIN_HOUSEKEEPING_CRON must be a crontab expression or None,"
                f" not {cron!r}: {exc}"
            ) from None
    values["housekeeping_cron"] = cron
    values["sqlite_write_queue"] = _flag("SQLITE_WRITE_QUEUE", values["sqlite_write_queue"])
    values["my_jobs"] = _flag("MY_JOBS", values["my_jobs"])
    values["metrics"] = _flag("METRICS", values["metrics"])
    values["metrics_token"] = str(values["metrics_token"]) if values["metrics_token"] else None
    if values["stale_after"] <= values["heartbeat_interval"]:
        raise ValueError("JOBS_ADMIN_STALE_AFTER must be longer than JOBS_ADMIN_HEARTBEAT_INTERVAL")
    values["live_origins"] = _origins(values["live_origins"])
    results = Path(values["results_dir"])
    values["results_dir"] = results if results.is_absolute() else Path(instance_path) / results
    return Settings(**values)


def _flag(key: str, value: Any) -> bool:
    """A boolean key: ``True``/``False``, or ``1``/``0``/``true``/``false``/``on``/``off``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"JOBS_ADMIN_{key} must be true or false, not {value!r}")


def _origins(value: Any) -> tuple[str, ...]:
    """``JOBS_ADMIN_LIVE_ORIGINS`` as normalised ``scheme://host[:port]`` strings."""
    from .live.websocket import normalize_origin

    items = value.replace(",", " ").split() if isinstance(value, str) else list(value or ())
    origins = []
    for item in items:
        origin = normalize_origin(str(item))
        if origin is None:
            raise ValueError(
                f"JOBS_ADMIN_LIVE_ORIGINS: {item!r} is not an origin like 'https://host[:port]'"
            )
        origins.append(origin)
    return tuple(origins)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_trigger(expr: str) -> CronTrigger:
    """An APScheduler trigger (UTC) for a standard five-field crontab expression.

    APScheduler 3's ``CronTrigger.from_crontab`` counts weekdays from Monday = 0, so
    ``"0 3 * * 1"`` would run on Tuesdays; crontab(5) counts from Sunday = 0 (7 is Sunday too).
    The day-of-week field is translated to day names, which mean the same in both.

    :raises ValueError: the expression is malformed.
    """
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(parts)}")
    minute, hour, day, month, weekday = parts
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday),
        timezone=UTC,
    )


def _crontab_weekdays(field: str) -> str:
    """Translate a crontab day-of-week field (``1-5``, ``0,6``, ``*/2``, ``mon``) to day names."""
    if field in ("*", "?"):
        return "*"

    def number(token: str) -> int:
        token = token.lower()
        if token in _WEEKDAYS:
            return _WEEKDAYS.index(token)
        if token.isdigit() and int(token) <= 7:
            return int(token)
        raise ValueError(f"bad day of week {token!r}")

    days: set[int] = set()
    for item in field.split(","):
        span, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in {item!r}")
        if span == "*":
            first, last = 0, 6
        else:
            low, dash, high = span.partition("-")
            first = number(low)
            last = number(high) if dash else (6 if slash else first)
        if first > last:
            raise ValueError(f"bad day-of-week range {item!r}")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))
