"""``flask demo ...``: set up the demo shop and fill it with a history of jobs."""

from __future__ import annotations

import random
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from jobs_admin.models import JobStatus, utcnow

from . import demo_jobs
from .auth import DEMO_USERS, ensure_demo_users
from .demo_jobs import supplier_prefix
from .extensions import db, jobs
from .models import ExportProfile, Product

demo_cli = click.Group("demo", help="Set up the demo shop and seed a history of jobs.")

#: The shop's catalog: (SKU prefix, product kind, base price).
_CATALOG = (
    ("TS", "T-shirt", Decimal("19.90")),
    ("HD", "Hoodie", Decimal("49.00")),
    ("MUG", "Mug", Decimal("12.50")),
    ("PST", "Poster", Decimal("9.90")),
)
_COLOURS = ("Black", "White", "Navy", "Forest", "Sand", "Berry", "Slate", "Sun", "Sky")

#: Who creates jobs in the seeded history, and how often.
_CREATORS = {"operator": 5, "admin": 3, "viewer": 2}
#: How often each status appears in the seeded history.
_STATUS_WEIGHTS = {
    JobStatus.COMPLETED: 55,
    JobStatus.PARTIAL: 10,
    JobStatus.FAILED: 12,
    JobStatus.CANCELLED: 8,
    JobStatus.PENDING: 10,
    JobStatus.RUNNING: 5,
}
#: Which job types can plausibly end in each status.
_TYPES_BY_STATUS = {
    JobStatus.COMPLETED: ("catalog.export", "products.import", "search.reindex", "reports.flaky"),
    JobStatus.PARTIAL: ("catalog.export", "products.import"),
    JobStatus.FAILED: (
        "catalog.export",
        "products.import",
        "search.reindex",
        "reports.flaky",
        "reports.broken",
        "reports.broken",
    ),
    JobStatus.CANCELLED: ("catalog.export", "products.import", "search.reindex"),
    JobStatus.PENDING: ("catalog.export", "products.import", "search.reindex", "reports.flaky"),
    JobStatus.RUNNING: ("catalog.export", "products.import", "search.reindex"),
}
_STEPS = {
    "catalog.export": ("Resolving images", "Building pages", "Zipping"),
    "products.import": ("Reading feed", "Importing"),
    "search.reindex": ("Collecting documents", "Indexing", "Swapping index"),
    "reports.flaky": ("Querying warehouse", "Writing report"),
    "reports.broken": ("Aggregating amounts",),
}
#: The worker name of seeded running jobs: a web process that is gone. Each keeps an attempt,
#: so the rescue requeues them (not "worker lost") and the demo's own worker runs them.
_GONE_WORKER = "shop-web-1:4242:seed01"


def catalog_products() -> list[Product]:
    """The demo catalog: four kinds of product in nine colours (36 products)."""
    products = []
    for prefix, kind, price in _CATALOG:
        for n, colour in enumerate(_COLOURS, start=1):
            sku = f"{prefix}-{n:03d}"
            products.append(
                Product(
                    sku=sku,
                    name=f"{kind} {colour}",
                    price=price + n,
                    stock=(n * 7) % 40,
                    image_url=f"https://img.shop.example/{sku.lower()}.jpg",
                )
            )
    return products


#: The demo's export profiles: name, catalog definition, SKUs (X-404 is discontinued: the
#: export of "Clearance" ends partial).
EXPORT_PROFILES = (
    ("Spring catalog", "spring", "TS-001, TS-002, TS-003, HD-001, MUG-001, PST-003"),
    ("Summer mugs", "summer", "MUG-001, MUG-002, MUG-003, MUG-004, MUG-005"),
    ("Clearance", "clearance", "TS-009, HD-008, X-404, PST-009"),
)


def ensure_export_profiles() -> None:
    """Add the demo's export profiles that are missing (by name)."""
    names = set(db.session.scalars(sa.select(ExportProfile.name)))
    for name, definition, skus in EXPORT_PROFILES:
        if name not in names:
            db.session.add(ExportProfile(name=name, definition=definition, skus=skus))


@demo_cli.command("init")
@with_appcontext
def init_command() -> None:
    """Create the tables, the demo users, the demo catalog and export profiles (safe to run
    again)."""
    db.create_all()
    ensure_demo_users()
    existing = set(db.session.scalars(sa.select(Product.sku)))
    new = [p for p in catalog_products() if p.sku not in existing]
    db.session.add_all(new)
    ensure_export_profiles()
    db.session.commit()
    click.echo(
        f"demo shop ready: users {', '.join(DEMO_USERS)} (password = user name), "
        f"{len(new)} product(s) added"
    )


# -- seed ----------------------------------------------------------------------------------


@dataclass
class _Seed:
    """One job of the seeded history and its log, before it is inserted."""

    values: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(
        self,
        at: datetime,
        kind: str,
        message: str,
        *,
        level: str = "info",
        data: Any = None,
    ) -> None:
        self.events.append(
            {"at": at, "kind": kind, "level": level, "message": message, "data": data}
        )


def _real_error(func: Callable[[], Any]) -> tuple[str, str]:
    """Run ``func``, which raises; return its error line and its real traceback."""
    try:
        func()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}", traceback.format_exc()
    raise AssertionError(f"{func.__name__} did not raise")


def _warehouse_query() -> None:
    raise ConnectionError("warehouse API timed out after 30 s")


class _History:
    """Makes plausible jobs: params, names, progress, steps, failed items, errors."""

    def __init__(self, rng: random.Random, now: datetime, days: int) -> None:
        self.rng = rng
        self.now = now
        self.days = days
        self.skus = [p.sku for p in catalog_products()]
        #: The export profiles' ids and SKUs: part of the seeded exports are theirs (their pages
        #: then show a history), as are the imports of the demo's suppliers
        #: (``supplier:<PREFIX>``, the products' SKU prefix), which the product pages show.
        self.profiles = [
            (p.id, p.definition, p.sku_list) for p in db.session.scalars(sa.select(ExportProfile))
        ]
        self.profile: int | None = None

    def params(self, job_type: str, status: JobStatus, created: datetime) -> dict[str, Any]:
        rng = self.rng
        if job_type == "catalog.export" and self.profiles and rng.random() < 0.4:
            profile_id, definition, profile_skus = rng.choice(self.profiles)
            # Read by name(), which gives the export the profile's reference.
            self.profile = profile_id
            return {"definition": definition, "skus": profile_skus}
        if job_type == "catalog.export":
            skus = rng.sample(self.skus, rng.randint(4, 14))
            if status is JobStatus.PARTIAL:
                skus += [f"X-{rng.randint(100, 999)}" for _ in range(rng.randint(1, 3))]
                rng.shuffle(skus)
            definition = rng.choice(("spring", "summer", "autumn", "winter", "clearance"))
            return {"definition": definition, "skus": skus}
        if job_type == "products.import":
            every = rng.randint(6, 15) if status is JobStatus.PARTIAL else 0
            supplier = rng.choice(("ACME", "Globex", "Initech", "Umbrella", "Hooli"))
            return {"rows": rng.randint(20, 150), "invalid_every": every, "supplier": supplier}
        if job_type == "search.reindex":
            return {"items": rng.choice((50, 100, 150, 200))}
        if job_type == "reports.flaky":
            return {"month": f"{created - timedelta(days=28):%Y-%m}"}
        return {}

    def name(self, job_type: str, params: dict[str, Any], created: datetime) -> tuple[str, Any]:
        """The job's name and reference."""
        rng = self.rng
        if job_type == "catalog.export":
            profile, self.profile = self.profile, None
            if profile is not None:
                ref = f"export-profile:{profile}"
            else:
                ref = f"CAT-{created:%Y}-{rng.randint(1, 9999):04d}"
            return f"{params['definition'].title()} catalog export", ref
        if job_type == "products.import":
            supplier = params["supplier"]
            if rng.random() < 0.5:
                return f"Import {supplier} feed", f"supplier:{supplier_prefix(supplier)}"
            return f"Import {supplier} feed", f"PO-{rng.randint(10000, 99999)}"
        if job_type == "search.reindex":
            label = rng.choice(("Nightly search reindex", "Search reindex (manual)"))
            return label, None
        if job_type == "reports.flaky":
            return f"Sales report {params['month']}", f"RPT-{params['month']}"
        quarter = (created.month - 1) // 3 + 1
        return f"VAT report {created:%Y} Q{quarter}", f"VAT-{created:%Y}-Q{quarter}"

    def total(self, job_type: str, params: dict[str, Any]) -> int | None:
        if job_type == "catalog.export":
            return len(params["skus"])
        if job_type == "products.import":
            return int(params["rows"])
        if job_type == "search.reindex":
            return int(params["items"])
        return None

    def created_at(self, status: JobStatus) -> datetime:
        rng = self.rng
        if status is JobStatus.PENDING:
            return self.now - timedelta(minutes=rng.uniform(1, 120))
        if status is JobStatus.RUNNING:
            return self.now - timedelta(minutes=rng.uniform(2, 30))
        return self.now - timedelta(days=rng.uniform(0.05, self.days))

    def make(self, status: JobStatus, user: str) -> _Seed:
        rng = self.rng
        job_type = rng.choice(_TYPES_BY_STATUS[status])
        registered = jobs.registry.get(job_type)
        created = self.created_at(status)
        params = self.params(job_type, status, created)
        # Seeded pending jobs really run later: their params must be what the form accepts.
        params = registered.validate(params, jobs.settings().max_params_bytes)
        name, reference = self.name(job_type, params, created)
        seed = _Seed(
            {
                "type": job_type,
                "name": name,
                "reference": reference,
                "status": status.value,
                "params": params,
                "priority": rng.choice((0, 0, 0, 0, 5)),
                "max_attempts": registered.max_attempts,
                "attempts": 0,
                "progress_done": 0,
                "progress_failed": 0,
                "created_by": user,
                "updated_by": user,
                "created_at": created,
                "run_at": created,
                "updated_at": created,
            }
        )
        seed.event(created, "status", "enqueued", data={"status": "pending"})
        if status is JobStatus.PENDING:
            if rng.random() < 0.5:
                # Scheduled for later: stays pending in the demo.
                seed.values["run_at"] = self.now + timedelta(hours=rng.uniform(1, 72))
            return seed
        if status is JobStatus.CANCELLED and rng.random() < 0.5:
            who = rng.choice(("admin", "operator"))
            at = created + timedelta(minutes=rng.uniform(0.5, 30))
            seed.values.update(finished_at=at, updated_at=at, updated_by=who, cancel_requested=True)
            seed.event(at, "action", f"cancelled by {who}", data={"action": "cancel", "user": who})
            return seed
        self._run(seed, job_type, status, created)
        return seed

    def _run(self, seed: _Seed, job_type: str, status: JobStatus, created: datetime) -> None:
        """Fill in a job that started: attempts, steps, progress, failures, its end."""
        rng = self.rng
        v = seed.values
        total = self.total(job_type, v["params"])
        attempts = 1
        start = created + timedelta(seconds=rng.uniform(0.2, 5))
        if job_type == "reports.flaky" and status is not JobStatus.RUNNING:
            # Attempts that failed and were retried automatically before the last one.
            error, trace = _real_error(_warehouse_query)
            retried = v["max_attempts"] - 1 if status is JobStatus.FAILED else 1
            for attempt in range(1, retried + 1):
                self._started(seed, start, attempt, v["max_attempts"])
                seed.event(start, "step", _STEPS[job_type][0])
                start += timedelta(seconds=rng.uniform(1, 3))
                backoff = 2 * 2 ** (attempt - 1)
                seed.event(
                    start,
                    "status",
                    f"attempt {attempt} of {v['max_attempts']} failed: {error}; "
                    f"retrying in {backoff:g} s",
                    level="warning",
                    data={"status": "pending"},
                )
                start += timedelta(seconds=backoff)
            attempts = retried + 1
            v.update(error=error, traceback=trace)
        self._started(seed, start, attempts, v["max_attempts"])
        v.update(attempts=attempts, started_at=start, progress_total=total)
        if status is JobStatus.RUNNING:
            end = self.now
        else:
            end = start + timedelta(seconds=rng.uniform(3, 900))
        steps = _STEPS[job_type]
        # How far a job that did not complete got through its steps and items.
        share = 1.0 if status in (JobStatus.COMPLETED, JobStatus.PARTIAL) else rng.uniform(0.1, 0.9)
        reached = max(1, round(len(steps) * share)) if share < 1 else len(steps)
        span = (end - start) / (reached + 1)
        for i, step in enumerate(steps[:reached]):
            seed.event(start + span * i, "step", step)
        if total:
            handled = total if share == 1 else int(total * share)
            failed = self._failed_items(seed, job_type, start + span, span, handled)
            v.update(progress_done=handled - failed, progress_failed=failed)
            if handled >= 50:
                seed.event(start + span * 1.5, "log", f"handled {handled} of {total} items")
        if status is JobStatus.RUNNING:
            # An attempt left: a minute into the demo the rescue requeues the job ("worker
            # lost; requeued") and the demo's worker runs it, rather than failing it.
            v["max_attempts"] = max(v["max_attempts"], attempts + 1)
            v.update(
                worker=_GONE_WORKER,
                heartbeat_at=self.now,
                updated_at=self.now,
                phase=steps[reached - 1],
                message=f"{v['progress_done']} of {total} items" if total else None,
            )
            return
        v.update(finished_at=end, updated_at=end)
        if status is JobStatus.COMPLETED:
            v.update(error=None, traceback=None, result=_result(job_type, v), message="done")
            seed.event(end, "status", "completed", data={"status": "completed"})
        elif status is JobStatus.PARTIAL:
            v["result"] = _result(job_type, v)
            v["message"] = f"{v['progress_done']} of {total} items, {v['progress_failed']} failed"
            seed.event(
                end,
                "status",
                f"finished with {v['progress_failed']} failed item(s)",
                level="warning",
                data={"status": "partial"},
            )
        elif status is JobStatus.CANCELLED:
            who = rng.choice(("admin", "operator", v["created_by"]))
            asked = end - timedelta(seconds=rng.uniform(0.2, 2))
            v.update(updated_by=who, cancel_requested=True, message="cancelled")
            seed.event(
                asked,
                "action",
                f"cancel requested by {who}",
                data={"action": "cancel", "user": who},
            )
            seed.event(end, "status", "cancelled", level="warning", data={"status": "cancelled"})
        else:
            self._failed(seed, job_type, end)

    def _started(self, seed: _Seed, at: datetime, attempt: int, max_attempts: int) -> None:
        seed.event(
            at,
            "status",
            f"started attempt {attempt} of {max_attempts} on {_GONE_WORKER}",
            data={"status": "running", "attempt": attempt, "worker": _GONE_WORKER},
        )

    def _failed_items(
        self, seed: _Seed, job_type: str, at: datetime, span: timedelta, handled: int
    ) -> int:
        """Record the failed items of the part of the job that ran; return how many."""
        params = seed.values["params"]
        if job_type == "catalog.export":
            keys = [s for s in params["skus"][:handled] if s.startswith("X")]
            why = "no image for discontinued SKU {}"
        elif job_type == "products.import" and params["invalid_every"]:
            every = params["invalid_every"]
            keys = [f"line {n}" for n in range(every, handled + 1, every)]
            why = "price must not be negative ({})"
        else:
            return 0
        for i, key in enumerate(keys):
            seed.event(
                at + span * (i / max(1, len(keys))),
                "item_failed",
                why.format(key),
                level="warning",
                data={"key": key},
            )
        return len(keys)

    def _failed(self, seed: _Seed, job_type: str, end: datetime) -> None:
        """End a job that started as failed, with the error its type would give."""
        v = seed.values
        if job_type == "reports.broken":
            v["error"], v["traceback"] = _real_error(demo_jobs._build_vat_report)
        elif job_type == "search.reindex":
            v["error"] = "timed out after 600 s"
        elif job_type != "reports.flaky":  # the flaky report's error is set already
            v["error"] = "worker lost"
            seed.event(
                end,
                "status",
                "worker lost (no heartbeat for 60 s); no attempts left",
                level="error",
                data={"status": "failed"},
            )
            return
        seed.event(end, "status", f"failed: {v['error']}", level="error", data={"status": "failed"})


def _result(job_type: str, v: dict[str, Any]) -> dict[str, Any]:
    if job_type == "catalog.export":
        return {"definition": v["params"]["definition"], "skus": v["progress_done"], "pages": 1}
    if job_type == "products.import":
        return {"created": v["progress_done"], "updated": 0, "rejected": v["progress_failed"]}
    if job_type == "search.reindex":
        return {"documents": v["progress_done"]}
    return {"month": v["params"].get("month"), "attempt": v["attempts"], "rows": 2}


def _pick_statuses(rng: random.Random, count: int) -> list[JobStatus]:
    """``count`` statuses by weight, each status at least once when ``count`` allows."""
    statuses = list(_STATUS_WEIGHTS)[: min(count, len(_STATUS_WEIGHTS))]
    rest = count - len(statuses)
    statuses += rng.choices(list(_STATUS_WEIGHTS), weights=list(_STATUS_WEIGHTS.values()), k=rest)
    return statuses


@demo_cli.command("seed")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=300, show_default=True)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=60,
    show_default=True,
    help="Spread finished jobs over this many past days.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing if there are jobs already.")
@click.option("--random-seed", type=int, default=None, help="Make the history reproducible.")
@with_appcontext
def seed_command(count: int, days: int, if_empty: bool, random_seed: int | None) -> None:
    """Fill the jobs table with a history of COUNT jobs in every status.

    Rows are written directly (with their steps, logs, failed items and errors) and the
    per-status counters are then rebuilt with ``jobs.recount()``. Seeded running jobs belong to
    a worker that is gone, with an attempt left: after JOBS_ADMIN_STALE_AFTER a running worker's
    rescue requeues them and they run for real. About half of the pending jobs are due now and
    run as soon as a worker starts.
    """
    job_model, event_model = jobs.Job, jobs.JobEvent
    existing = db.session.scalar(sa.select(sa.func.count()).select_from(job_model)) or 0
    if if_empty and existing:
        click.echo(f"{existing} job(s) already there; not seeding (drop --if-empty to add more)")
        return
    rng = random.Random(random_seed)
    history = _History(rng, utcnow(), days)
    users = list(_CREATORS)
    weights = list(_CREATORS.values())
    seeds = [history.make(s, rng.choices(users, weights)[0]) for s in _pick_statuses(rng, count)]
    seeds.sort(key=lambda s: s.values["created_at"])  # ids grow with time, as in real life
    for start in range(0, len(seeds), 500):
        batch = seeds[start : start + 500]
        rows = [job_model(**s.values) for s in batch]
        db.session.add_all(rows)
        db.session.flush()
        db.session.add_all(
            event_model(job_id=row.id, **event)
            for row, seed in zip(rows, batch, strict=True)
            for event in sorted(seed.events, key=lambda e: e["at"])
        )
        db.session.commit()
    counts = jobs.recount()
    # The seeded rows were inserted as they are, not ended by the status machine: their ends
    # (the Insights charts) and failure groups are rebuilt from them, like the counters.
    jobs.restat()
    by_status = Counter(s.values["status"] for s in seeds)
    click.echo(
        f"seeded {len(seeds)} job(s) over the last {days} day(s): "
        + ", ".join(f"{s.value}={by_status[s.value]}" for s in JobStatus)
    )
    click.echo("counters: " + " ".join(f"{k}={v}" for k, v in counts.items()))
