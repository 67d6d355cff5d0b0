"""The job view's list page (rows, count, KPI tiles, filter links) and detail page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import flash, redirect, request
from flask_admin import expose
from markupsafe import Markup

from .. import permissions as perms
from ..i18n import gettext
from . import _details, _html
from ._base import ViewBase, clip, redirect_target
from ._live import live_config
from .filters import PRESETS
from .forms import prune_form, token_form

#: Above this many matches a filtered list says "10,000+" instead of counting every row.
COUNT_CAP = 10_000

#: A filter's query argument as Flask-Admin reads it: ``flt<position>_<name>``, where the
#: position may be any text (``flt_status_equals`` works too).
_FILTER_ARG = re.compile(r"^flt(?P<pos>[^_]*)_(?P<name>.+)$")

#: Query arguments that are not the list's own and must not reach ``url_for`` as keywords:
#: its own parameters (``endpoint``, ``_external`` would make every link absolute with the
#: request's Host header, ...) and ``get_url``'s.
_NOT_LIST_ARGS = frozenset({"endpoint", "self", "values"})

#: The deepest page a list URL may ask for; further is clamped (an OFFSET past every row is an
#: empty page anyway, and a huge one overflows the database's integer).
MAX_PAGE = 10_000_000


def _list_arg(name: str) -> bool:
    """Whether a query argument may pass to ``url_for`` as a keyword (see _NOT_LIST_ARGS)."""
    return name[:1] != "_" and name not in _NOT_LIST_ARGS


def _literal(n: int) -> Any:
    """A LIMIT/OFFSET value rendered into the SQL, so the planner knows it."""
    return sa.bindparam(None, int(n), type_=sa.Integer, literal_execute=True)


class ListMixin(ViewBase):
    """The list page (its rows, count and KPI tiles, and the helpers its template calls) and
    the detail page."""

    # _status_filter and _user_filter: set by JobView.__init__, which knows the model.
    _status_filter: Any
    _user_filter: Any

    # -- rows and counts -------------------------------------------------------------------

    def get_invalid_value_msg(self, value: str, filter: Any) -> str:
        # Flask-Admin's message repeats the whole value.
        return gettext(
            "Invalid value %(value)r for the filter %(filter)s; it is ignored.",
            value=clip(value),
            filter=str(filter.name),
        )

    def search_placeholder(self) -> str:
        """What the search box matches (Flask-Admin would list only the searchable columns)."""
        return gettext("ID, name, reference, type, user or params.KEY:VALUE")

    def get_list(
        self,
        page: int | None,
        sort_column: Any,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        query = self._filtered(search, filters)
        count = self._count(query, search, filters)

        def ordered(q: Any) -> Any:
            q, _ = self._apply_sorting(q, {}, sort_column, sort_desc)
            return q.order_by(self.model.id.desc()) if sort_column is not None else q

        query = ordered(query)
        if page and execute:
            # A deep page: skip over ids first (the database walks its index without touching
            # the table), then load only the rows shown. OFFSET on full rows reads and throws
            # away every row it skips.
            size = page_size or self.page_size
            ids = query.with_entities(self.model.id).limit(_literal(size))
            ids = ids.offset(_literal(page * size)).subquery()
            query = ordered(self.get_query().filter(self.model.id.in_(sa.select(ids.c.id))))
        elif execute:
            # Literal: with a bound LIMIT SQLite's planner walks the created_at index over the
            # whole table instead of using the search's OR of indexes (425 ms vs 2 ms at 1M).
            query = query.limit(_literal(page_size or self.page_size))
        if not execute:
            return count, query
        # The host's checker has the last word on each row (its buttons ask it anyway); the
        # count and pager follow the SQL condition (``@jobs.visible_jobs``) alone.
        return count, [job for job in query.all() if self.can(perms.VIEW, job)]

    def _count(self, query: Any, search: str | None, filters: Any) -> int | None:
        """Count the list's matches: from the counters when they can say, else capped.

        Above :data:`COUNT_CAP` it returns ``None``: the page then says "more than COUNT_CAP"
        and Flask-Admin shows a simple previous/next pager, so every row stays reachable (a
        pager built on the capped number would end at the cap).
        """
        self._template_args["count_capped"] = False
        self._template_args["count_cap"] = COUNT_CAP
        status = created_by = None
        # The counters know nothing of a host's visibility condition.
        counter_friendly = (
            not search and self._visibility()[1] is None and not self.default_applies(filters)
        )
        for idx, _name, value in filters or ():
            flt = self._filters[idx]
            if flt is self._status_filter and status is None and ":" not in value:
                status = value
            elif flt is self._user_filter and created_by is None:
                created_by = value
            else:
                counter_friendly = False
        if counter_friendly:
            if not self.sees_all():
                own = self.jobs.identity(self.user) or ""
                if created_by is not None and created_by != own:
                    return 0
                created_by = own
            counts = self._counts(created_by)
            return counts[status] if status else counts["total"]
        limited = query.with_entities(self.model.id).order_by(None).limit(COUNT_CAP + 1)
        n = self.jobs.db.session.execute(sa.select(sa.func.count()).select_from(limited.subquery()))
        count = int(n.scalar() or 0)
        if count > COUNT_CAP:
            self._template_args["count_capped"] = True
            return None
        return count

    def paused_reasons(self, jobs: Any) -> dict[int, str]:
        """Why each paused job among ``jobs`` is paused (see ``_rows``)."""
        return {}

    def default_applies(self, filters: Any) -> bool:
        """Whether a default created-at range narrows the list (see ``_filterbar``)."""
        return False

    def _counts(self, created_by: str | None) -> dict[str, int]:
        """Counts per status (of ``created_by``'s jobs), read once per request: the list's count
        and the KPI tiles usually want the same ones."""
        memo = self._state().counts
        if created_by not in memo:
            memo[created_by] = self.jobs.store.counts(self.jobs.db.session, created_by)
        return memo[created_by]

    def kpis(self) -> dict[str, int]:
        """Counts per status of every job the user may see (whatever the table's filter)."""
        condition, host = self._visibility()
        if host is not None:
            # A host's condition: counted over the jobs it selects (index it).
            memo, key = self._state().counts, "\0visible"
            if key not in memo:
                memo[key] = self.jobs.store.counts_where(self.jobs.db.session, condition)
            return memo[key]
        if self.sees_all():
            return self._counts(None)
        return self._counts(self.jobs.identity(self.user) or "")

    # -- template helpers ------------------------------------------------------------------

    def active_filter(self, arg: str) -> str | None:
        """The valid value of the named filter ``arg`` (``status_equals``) in this request.

        An invalid value is ignored by the list (with a flash), so it is not "active" either.
        """
        _idx, flt = (self._filter_args or {}).get(arg, (None, None))
        for key, value in request.args.items():
            m = _FILTER_ARG.match(key)
            if m and m.group("name") == arg and (flt is None or flt.validate(value)):
                return value
        return None

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes).
    def _get_list_extra_args(self) -> Any:
        args = super()._get_list_extra_args()
        # Flask-Admin passes the other query arguments to ``url_for`` as keywords.
        args.extra_args = {k: v for k, v in args.extra_args.items() if _list_arg(k)}
        args.page = min(max(args.page or 0, 0), MAX_PAGE)
        return args

    def export_url(self) -> str:
        """The CSV export of what this list shows (its filters, search and sorting)."""
        args = {
            k: v
            for k, v in request.args.to_dict(flat=False).items()
            if k not in ("page", "page_size") and _list_arg(k)
        }
        return str(self.get_url(".export_csv", **args))

    def filter_url(self, arg: str, value: str | None) -> str:
        """This list's URL with the named filter ``arg`` set to ``value`` (or removed)."""
        args = [
            (k, v)
            for k, v in request.args.items(multi=True)
            if k != "page" and not ((m := _FILTER_ARG.match(k)) and m.group("name") == arg)
        ]
        if value is not None:
            used = {int(m.group(1)) for k, _ in args if (m := re.match(r"flt(\d{1,9})_", k))}
            n = max(used, default=-1) + 1
            args.append((f"flt{n}_{arg}", value))
        query = urlencode(args)
        return self.get_url(".index_view") + (f"?{query}" if query else "")

    def presets(self) -> dict[str, str]:
        """The date-range presets: value -> label."""
        return {k: v[0] for k, v in PRESETS.items()}

    def csrf_token(self) -> str:
        """A CSRF token for the row-action forms of this page."""
        form = token_form()
        return str(form.csrf_token.current_token)

    def stale(self, job: Any, stale_after: float | None = None) -> bool:
        """Whether a running job's heartbeat is older than ``JOBS_ADMIN_STALE_AFTER`` (or
        ``stale_after`` seconds: the list reads the setting once per page)."""
        if stale_after is None:
            stale_after = self.jobs.settings().stale_after
        return _details.is_stale(job, stale_after)

    def job_buttons(self, job: Any, csrf: str, return_url: str, compact: bool = True) -> Markup:
        """The retry / cancel / delete forms the user may use on ``job`` (detail page)."""
        return _html.job_buttons(self, job, csrf, return_url, compact)

    def return_url(self) -> str:
        """Where an action on this page should come back to."""
        return redirect_target() or request.full_path.rstrip("?")

    # -- pages -----------------------------------------------------------------------------

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.list_template and "return_url" in kwargs:
            # What the rows share (their links and forms, made once for the page): the page's
            # own URL is known only here, from Flask-Admin's ``index_view``.
            kwargs["jobs_admin_rows"] = _html.ListRows(
                self,
                kwargs["return_url"],
                self._template_args["csrf"],
                self._state().answers,
                self.paused_reasons(kwargs.get("data") or ()),
            )
        return super().render(template, **kwargs)

    @expose("/")
    def index_view(self) -> Any:
        form = prune_form(days=self.jobs.settings().retention_days)
        self._template_args["prune_form"] = form
        # The row forms' token: the prune form's (the same kind of form), not a form more.
        self._template_args["csrf"] = str(form.csrf_token.current_token)
        # Before the list's queries: the page's websocket picks up from this moment.
        self._template_args["live"] = live_config(
            self.jobs, "list", self.get_url(".details_view"), self.get_url("jobs_admin.ws")
        )
        return super().index_view()

    @expose("/details/")
    def details_view(self) -> Any:
        return_url = redirect_target() or self.get_url(".index_view")
        live = live_config(
            self.jobs, "details", self.get_url(".details_view"), self.get_url("jobs_admin.ws")
        )
        job = self.get_one(request.args.get("id"))
        if job is None:
            flash(gettext("That job does not exist or you may not see it."), "error")
            return redirect(return_url)
        self._template_args["live"] = {**live, "job": job.id}
        return self.render(
            self.details_template,
            job=job,
            info=_details.collect(
                self.jobs,
                job,
                visible=self._visibility()[0],
                may_see=lambda row: self.can(perms.VIEW, row),
            ),
            return_url=return_url,
        )
