"""The demo shop's job types: one for every feature of jobs_admin.

* ``catalog.export``: steps, progress per SKU, recorded items, a ZIP result file whose HTML
  catalog opens in the admin's preview, retry of the failed items only, a link to the profile
  of who asked for it.
* ``products.import``: writes the shop's own ``Product`` table with ``db.session`` inside the job;
  every row is recorded (created, updated or rejected), the job ends ``partial`` when rows were
  rejected, and links to the products it wrote.
* ``search.reindex``: a long cancellable loop with a timeout.
* ``reports.flaky``: fails on its first attempt and succeeds on the automatic retry.
* ``reports.broken``: always fails deep inside a helper (a traceback with several frames).

Each job sleeps ``DEMO_JOB_DELAY`` seconds (default 0.1) per item so that progress is visible in
the admin; tests set it to 0. The module also connects a ``job_finished`` receiver that shows
where a host would send its completion e-mails.
"""

from __future__ import annotations

import csv
import io
import smtplib
import time
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask, current_app, url_for
from markupsafe import escape
from wtforms import Field, Form, IntegerField, StringField, validators
from wtforms.widgets import TextArea

from jobs_admin import JobContext
from jobs_admin.signals import job_finished

from .extensions import db, jobs
from .mail import send_job_mail
from .models import Product, User

#: Seconds each job sleeps per item when the app sets no ``DEMO_JOB_DELAY``.
DEFAULT_DELAY = 0.1

#: SKUs of products that no longer exist: exporting them fails (an item-level failure).
DISCONTINUED_PREFIX = "X"


def _pause(factor: float = 1.0) -> None:
    """Sleep ``DEMO_JOB_DELAY`` seconds times ``factor`` (no sleep when the delay is 0)."""
    delay = float(current_app.config.get("DEMO_JOB_DELAY", DEFAULT_DELAY)) * factor
    if delay > 0:
        time.sleep(delay)


# -- forms ---------------------------------------------------------------------------------


class ListField(Field):
    """A list of strings: from repeated form values, or from one comma/newline-separated text.

    ``jobs.enqueue(..., skus=["A1", "B2"])`` arrives as two form values, the run form's text area
    as ``"A1, B2"``; both give ``["A1", "B2"]``.
    """

    widget = TextArea()
    data: list[str]

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return  # not given at all: keep the default, as WTForms' own fields do
        items: list[str] = []
        for value in valuelist:
            items.extend(part.strip() for part in str(value).replace("\n", ",").split(","))
        self.data = [item for item in items if item]

    def process_data(self, value: Any) -> None:
        if isinstance(value, str):
            self.process_formdata([value])
        else:
            self.data = list(value) if value else []

    def _value(self) -> str:
        return ", ".join(self.data or [])


class SkuList:
    """Validate each SKU of a :class:`ListField`: letters, digits and dashes, at most 40."""

    def __init__(self, max_items: int = 1000) -> None:
        self.max_items = max_items

    def __call__(self, form: Form, field: Field) -> None:
        if len(field.data) > self.max_items:
            raise validators.ValidationError(f"at most {self.max_items} SKUs")
        bad = [s for s in field.data if len(s) > 40 or not s.replace("-", "").isalnum()]
        if bad:
            # A SKU is at most 40 characters: longer input is shown cut, never echoed whole.
            shown = ", ".join(s if len(s) <= 40 else s[:40] + "…" for s in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise validators.ValidationError(f"not a SKU: {shown}{more}")


class ExportForm(Form):
    """Params of ``catalog.export``."""

    definition = StringField(
        "Catalog definition",
        default="spring",
        validators=[validators.DataRequired(), validators.Length(max=100)],
        description="Which catalog layout to use (spring, summer, clearance...).",
    )
    skus = ListField(
        "SKUs",
        default=["TS-001", "TS-002", "MUG-001", "X-404", "PST-003"],
        validators=[validators.DataRequired(), SkuList()],
        description="Comma-separated; SKUs starting with X are discontinued and fail.",
    )


class ImportForm(Form):
    """Params of ``products.import``."""

    rows = IntegerField(
        "Rows",
        default=60,
        validators=[validators.NumberRange(min=1, max=10000)],
        description="How many rows the supplier feed has.",
    )
    invalid_every = IntegerField(
        "Invalid every Nth row",
        default=9,
        validators=[validators.NumberRange(min=0, max=10000)],
        description="Every Nth row has a negative price and is rejected (0: none).",
    )
    supplier = StringField(
        "Supplier",
        default="ACME",
        validators=[validators.DataRequired(), validators.Length(max=40)],
    )


class ReindexForm(Form):
    """Params of ``search.reindex``."""

    items = IntegerField(
        "Documents",
        default=200,
        validators=[validators.NumberRange(min=1, max=100000)],
    )


def _last_month() -> str:
    """The month before this one, as ``YYYY-MM``."""
    return f"{date.today().replace(day=1) - timedelta(days=1):%Y-%m}"


class ReportForm(Form):
    """Params of ``reports.flaky``."""

    month = StringField(
        "Month",
        default=_last_month,
        validators=[
            validators.DataRequired(),
            validators.Regexp(r"^\d{4}-\d{2}$", message="YYYY-MM"),
        ],
    )


# -- catalog.export ------------------------------------------------------------------------


def _resolve_image(sku: str) -> str:
    """Return the image URL of ``sku``.

    :raises LookupError: the SKU is discontinued, so it has no image.
    """
    if sku.upper().startswith(DISCONTINUED_PREFIX):
        raise LookupError(f"no image for discontinued SKU {sku}")
    product = db.session.scalar(db.select(Product).filter_by(sku=sku))
    if product is not None and product.image_url:
        return str(product.image_url)
    return f"https://img.shop.example/{sku.lower()}.jpg"


def _product_names(skus: Iterable[str]) -> dict[str, str]:
    rows = db.session.execute(db.select(Product.sku, Product.name).where(Product.sku.in_(skus)))
    return {sku: name for sku, name in rows}


#: The catalog page's look (in the page: the admin's preview allows no requests for scripts,
#: and a page that needs none looks the same opened from the ZIP).
_CATALOG_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-weight: 600; margin: 0 0 .25rem; }
p.lead { color: #666; margin: 0 0 1.5rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid #ddd; border-radius: 6px; overflow: hidden; }
figure img { display: block; width: 100%; height: 120px; object-fit: cover; background: #eef1f4;
  color: #888; font-size: .8rem; }
figcaption { padding: .5rem .75rem; font-size: .9rem; }
figcaption b { display: block; font-family: monospace; color: #555; }
"""


def _catalog_page(definition: str, entries: Sequence[tuple[str, str, str]]) -> str:
    """Render the catalog's HTML page: one card per (sku, name, image url)."""
    cards = "\n".join(
        f'  <figure><img src="{escape(url)}" alt="{escape(name)}">'
        f"<figcaption><b>{escape(sku)}</b>{escape(name)}</figcaption></figure>"
        for sku, name, url in entries
    )
    title = escape(definition.title())
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title} catalog</title><style>{_CATALOG_CSS}</style></head>\n"
        f"<body>\n<h1>{title} catalog</h1>\n"
        f'<p class="lead">{len(entries)} products</p>\n'
        f'<div class="grid">\n{cards}\n</div>\n</body></html>\n'
    )


def _export_links(job: Any) -> list[tuple[str, str]]:
    """The catalog export's reference: the profile of the user who asked for it."""
    if not job.created_by:
        return []
    return [(f"Profile of {job.created_by}", url_for("user.index_view", search=job.created_by))]


def _import_links(job: Any) -> list[tuple[str, str]]:
    """The products an import wrote: the shop's product list, searched by the SKU prefix."""
    prefix = supplier_prefix(str((job.params or {}).get("supplier") or "ACME"))
    return [(f"Products {prefix}-*", url_for("product.index_view", search=prefix))]


@jobs.job_type(
    "catalog.export",
    title="Export catalog",
    params=ExportForm,
    retry_items=lambda params, failed: {**params, "skus": failed},
    preview="index.html",
    record_items=True,
    links=_export_links,
    description=(
        "Build an HTML catalog of the given SKUs and zip it for download. SKUs starting with X"
        ' are discontinued: they fail as items, the job ends partial, and "Retry failed items"'
        " reruns only those."
    ),
)
def export_catalog(ctx: JobContext, definition: str, skus: list[str]) -> dict[str, Any]:
    """Build a catalog of the given SKUs as an HTML page and zip it for download.

    Discontinued SKUs (starting with X) fail as items; the job then ends partial and
    "Retry failed items" reruns only those.

    :param ctx: the job's context.
    :param definition: the catalog layout.
    :param skus: the products to include.
    :returns: how many SKUs and pages went into the ZIP.
    """
    ctx.step("Resolving images")
    ctx.set_total(len(skus))
    # A run resumed after a pause counted its first SKUs already: it resolves their images
    # again (cheap, and the pages need them) without counting them twice.
    counted = ctx.done + ctx.failed
    images: dict[str, str] = {}
    for n, sku in enumerate(skus):
        new = n >= counted
        if new:
            ctx.check_cancelled()
        try:
            images[sku] = _resolve_image(sku)
        except LookupError as exc:
            if new:
                ctx.item_failed(sku, exc)
        else:
            if new:
                ctx.item_done(sku, "image found")
        if new:
            _pause()

    ctx.step("Building pages")
    names = _product_names(images)
    entries = [(sku, names.get(sku, sku), url) for sku, url in images.items()]
    page = _catalog_page(definition, entries)
    ctx.log(f"built 1 page with {len(entries)} products")
    _pause()

    ctx.step("Zipping")
    path = ctx.result_file("catalog.zip")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", page)
        archive.writestr("skus.txt", "\n".join(images) + "\n")
    ctx.message(f"{len(entries)} of {len(skus)} SKUs exported")
    return {
        "definition": definition,
        "skus": len(entries),
        "pages": 1,
        "bytes": path.stat().st_size,
    }


# -- products.import -----------------------------------------------------------------------


def supplier_prefix(supplier: str) -> str:
    """The SKU prefix of a supplier's products (``Globex`` -> ``GLOBEX``): imports of the
    supplier carry the reference ``supplier:<prefix>`` in the demo."""
    return "".join(ch for ch in supplier.upper() if ch.isalnum())[:6] or "SUP"


def _feed_rows(supplier: str, rows: int, invalid_every: int) -> list[dict[str, Any]]:
    """The rows of a (generated) supplier feed; every ``invalid_every``-th one is invalid."""
    prefix = supplier_prefix(supplier)
    feed = []
    for n in range(1, rows + 1):
        price = Decimal(5 + (n * 37) % 95) + Decimal("0.99")
        if invalid_every and n % invalid_every == 0:
            price = -price
        feed.append(
            {
                "line": n,
                "sku": f"{prefix}-{n:05d}",
                "name": f"{supplier} article {n}",
                "price": price,
                "stock": (n * 13) % 120,
            }
        )
    return feed


def _check_row(row: dict[str, Any]) -> None:
    """:raises ValueError: the row cannot be imported."""
    if row["price"] < 0:
        raise ValueError(f"price must not be negative, got {row['price']}")
    if not row["name"]:
        raise ValueError("name is empty")


#: Valid rows written (and committed) together by ``products.import``.
IMPORT_BATCH = 10


def _save_products(rows: Sequence[dict[str, Any]]) -> set[str]:
    """Create or update the products of ``rows`` by SKU and commit; return the SKUs that
    existed (were updated).

    Writing a batch at once keeps the transaction short: on SQLite a writing session holds the
    database's only write lock, which the worker's progress writes and heartbeats wait for.
    """
    skus = [row["sku"] for row in rows]
    existing = {
        p.sku: p for p in db.session.scalars(db.select(Product).where(Product.sku.in_(skus)))
    }
    for row in rows:
        product = existing.get(row["sku"])
        if product is None:
            product = Product(sku=row["sku"])
            db.session.add(product)
        product.name = row["name"]
        product.price = row["price"]
        product.stock = row["stock"]
    db.session.commit()
    return set(existing)


@jobs.job_type(
    "products.import",
    title="Import products",
    params=ImportForm,
    record_items=True,
    links=_import_links,
    description=(
        "Import a supplier's feed into the shop's products (created or updated by SKU)."
        " Every Nth row has a negative price and is rejected; the job then ends partial."
    ),
)
def import_products(
    ctx: JobContext, rows: int, invalid_every: int, supplier: str = "ACME"
) -> dict[str, int]:
    """Import a supplier's feed into the shop's products, creating or updating by SKU.

    Rows with a negative price are rejected one by one; the job ends partial. Valid rows are
    committed in batches of ten, so what was imported stays imported if the job is cancelled.

    :param ctx: the job's context.
    :param rows: rows in the feed.
    :param invalid_every: every Nth row is invalid (0: none).
    :param supplier: the supplier's name; its SKUs are prefixed with it.
    :returns: how many products were created and updated, and how many rows were rejected.
    """
    ctx.step("Reading feed")
    feed = _feed_rows(supplier, rows, invalid_every)
    ctx.set_total(len(feed))
    ctx.step("Importing")
    created = updated = 0
    batch: list[dict[str, Any]] = []
    # The job stops only between batches, when every row before is committed or rejected:
    # a run resumed after a pause goes on at the first row not counted yet.
    start = ctx.done + ctx.failed
    for n, row in enumerate(feed[start:], start=start + 1):
        if not batch:
            ctx.check_cancelled()
        try:
            _check_row(row)
        except ValueError as exc:
            ctx.item_failed(f"line {row['line']}", exc)
        else:
            batch.append(row)
        if len(batch) == IMPORT_BATCH or (n == len(feed) and batch):
            existed = _save_products(batch)
            created, updated = created + len(batch) - len(existed), updated + len(existed)
            for saved in batch:  # committed: each row is listed in the job's Items table
                what = "updated" if saved["sku"] in existed else "created"
                ctx.item_done(f"line {saved['line']}", f"{what} {saved['sku']}")
            batch.clear()
        _pause(0.3)
    ctx.message(f"{created} created, {updated} updated, {ctx.failed} rejected")
    return {"created": created, "updated": updated, "rejected": ctx.failed}


# -- search.reindex ------------------------------------------------------------------------


@jobs.job_type(
    "search.reindex",
    title="Reindex search",
    params=ReindexForm,
    timeout=600,
    description="Rebuild the search index document by document. Slow on purpose: cancel it.",
)
def reindex_search(ctx: JobContext, items: int) -> dict[str, int]:
    """Rebuild the shop's search index document by document (slow: try cancelling it).

    :param ctx: the job's context.
    :param items: how many documents to index.
    :returns: how many documents were indexed.
    """
    if not ctx.resumed:
        ctx.step("Collecting documents")
        ctx.set_total(items)
        _pause()
    ctx.step("Indexing")
    # Resumed after a pause (a deploy): the documents indexed before it stay indexed.
    for n in range(ctx.done + 1, items + 1):
        ctx.check_cancelled()
        _pause(2)
        ctx.advance()
        if n % 50 == 0:
            ctx.log(f"indexed {n} of {items} documents")
            ctx.message(f"{n} of {items} documents")
    ctx.step("Swapping index")
    _pause()
    return {"documents": items}


# -- reports -------------------------------------------------------------------------------


@jobs.job_type(
    "reports.flaky",
    title="Flaky report",
    params=ReportForm,
    max_attempts=3,
    retry_backoff=2,
    description=(
        "A sales report whose data source times out on the first attempt; the job is retried"
        " automatically 2 s later and succeeds."
    ),
)
def flaky_report(ctx: JobContext, month: str) -> dict[str, Any]:
    """A sales report whose data source times out on the first attempt.

    Shows automatic retries: attempt 1 fails, the job waits 2 s and attempt 2 succeeds.

    :param ctx: the job's context.
    :param month: the month to report on (``YYYY-MM``).
    :raises ConnectionError: on the first attempt.
    """
    ctx.step("Querying warehouse")
    _pause(5)
    if ctx.attempt == 1:
        raise ConnectionError("warehouse API timed out after 30 s")
    ctx.step("Writing report")
    lines = [("day", "orders", "revenue")]
    lines += [(f"{month}-{d:02d}", str(10 + d % 7), f"{(10 + d % 7) * 23.5:.2f}") for d in (1, 2)]
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    ctx.result_file(f"sales-{month}.csv").write_text(out.getvalue(), encoding="utf-8")
    return {"month": month, "attempt": ctx.attempt, "rows": len(lines) - 1}


def _parse_amount(raw: str) -> Decimal:
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"not an amount: {raw!r}") from None


def _aggregate(lines: Iterable[tuple[str, str]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for rate, amount in lines:
        totals[rate] = totals.get(rate, Decimal(0)) + _parse_amount(amount)
    return totals


def _build_vat_report() -> dict[str, Decimal]:
    # The letter O instead of a zero: a classic of hand-edited exports.
    lines = [("19%", "100,00"), ("7%", "12,50"), ("19%", "12,5O")]
    return _aggregate(lines)


@jobs.job_type(
    "reports.broken",
    title="Broken report",
    description="A VAT report that always fails while parsing its input: see its traceback.",
)
def broken_report(ctx: JobContext) -> dict[str, str]:
    """A VAT report that always fails while parsing its input (shows a traceback).

    :param ctx: the job's context.
    :raises ValueError: always.
    """
    ctx.step("Aggregating amounts")
    _pause()
    totals = _build_vat_report()
    return {rate: str(total) for rate, total in totals.items()}


# -- completion e-mails --------------------------------------------------------------------


def _mail_creator(sender: Any, job: Any = None, **_extra: Any) -> None:
    """Tell the job's creator that it ended: an e-mail when the app sets ``DEMO_MAIL_SERVER``
    (see :mod:`host_app.mail`), else a log line saying what would be sent.

    Connected to :data:`jobs_admin.signals.job_finished` for every end state. It runs in the
    process that ran the job, whether or not anybody has the admin open; a creator who has it
    open also gets the admin's live toast.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if job is None or app.extensions.get("jobs_admin") is not jobs:
        return  # another app in this process, with jobs of its own
    if not job.created_by:
        return
    try:
        user = db.session.scalar(db.select(User).filter_by(username=job.created_by))
    except Exception:  # the signal must never break the worker that sends it
        app.logger.exception("could not look up the creator of job %s", job.id)
        return
    if user is None or not user.email:
        return
    subject = f"Job #{job.id} {job.name or job.type}: {job.status}"
    app.logger.info("mail to %s <%s>: %s", user.username, user.email, subject)
    try:
        send_job_mail(app, job, user.email)
    except (OSError, smtplib.SMTPException):  # a mail server down must not fail the worker
        app.logger.exception("could not mail the creator of job %s", job.id)


job_finished.connect(_mail_creator)
