"""The Flask-Admin view of jobs: list with KPI tiles, filters, details, actions, export.

:class:`JobView` is declared here (its columns, filters and templates); what it does lives in
the mixins it is assembled from, one module each: :mod:`._base` (access, the jobs the user may
see, redirects), :mod:`._list` (the list and detail pages), :mod:`._actions` (retry, cancel,
delete), :mod:`._export` (CSV export, result files), :mod:`._items` (a job's recorded items),
:mod:`._preview` (HTML results) and :mod:`._run` (the run form, "Clear old jobs"). Flask-Admin
finds their ``@expose`` routes and ``@action`` actions on the final class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm

from .._sql import duration_seconds
from ..i18n import lazy_gettext
from ..panel._views import PanelViewsMixin
from . import _columns, _html
from ._actions import ActionsMixin
from ._bulk import BulkMixin
from ._columns import OptionalColumnsMixin
from ._export import ExportMixin
from ._filterbar import FilterBarMixin
from ._items import ItemsMixin
from ._list import ListMixin
from ._notify import NotifyMixin
from ._preview import PreviewMixin
from ._rows import RowsMixin
from ._run import RunMixin
from .filters import (
    CreatedBetweenFilter,
    CreatedWithinFilter,
    FinishedBetweenFilter,
    ParamsFilter,
    ScheduleFilter,
    StatusFilter,
    TypeFilter,
    UserFilter,
)

if TYPE_CHECKING:
    from ..extension import JobsAdmin


class JobView(
    PanelViewsMixin,
    OptionalColumnsMixin,
    FilterBarMixin,
    RowsMixin,
    ListMixin,
    ActionsMixin,
    BulkMixin,
    ExportMixin,
    ItemsMixin,
    PreviewMixin,
    NotifyMixin,
    RunMixin,
    ModelView,
):
    """Jobs in the host's admin: KPI tiles, filters, search, details and gated actions.

    :param jobs: the extension whose jobs this view shows.
    """

    list_template = "jobs_admin/list.html"
    details_template = "jobs_admin/details.html"

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_export = False
    can_set_page_size = True
    page_size = 25
    page_size_options: tuple[int, ...] = (25, 50, 100, 250)
    named_filter_urls = True
    form_base_class = SecureForm
    column_display_actions = True

    column_list = (
        "id",
        "name",
        "status",
        "progress_done",
        "created_by",
        "created_at",
        "duration",
        "reference",
    )
    column_labels = {
        "id": lazy_gettext("ID"),
        "name": lazy_gettext("Name"),
        "status": lazy_gettext("Status"),
        "progress_done": lazy_gettext("Progress"),
        "created_by": lazy_gettext("Created by"),
        "created_at": lazy_gettext("Created"),
        "duration": lazy_gettext("Duration"),
        "reference": lazy_gettext("Reference"),
        **_columns.OPTIONAL,
    }
    # The optional columns a user adds with the "Columns" menu (after ``column_list``), and
    # those shown before the user chooses: a host's subclass may set both.
    column_optional = tuple(_columns.OPTIONAL)
    column_optional_default: tuple[str, ...] = ()
    column_searchable_list = ("name", "reference", "created_by")
    # Python, not template macros: a macro call per cell was most of a list page's time.
    column_formatters = {
        "id": _html.id_cell,
        "name": _html.name_cell,
        "status": _html.status_cell,
        "progress_done": _html.progress_cell,
        "created_at": _html.created_cell,
        "duration": _html.duration_cell,
        "reference": _html.reference_cell,
        **_columns.FORMATTERS,
    }

    def __init__(self, jobs: JobsAdmin, **kwargs: Any) -> None:
        self.jobs = jobs
        job = jobs.Job
        self.column_sortable_list = (
            ("id", job.id),
            "name",
            ("created_at", job.created_at),
            ("duration", duration_seconds(job.started_at, job.finished_at)),
        )
        self.column_default_sort = [("created_at", True), ("id", True)]
        self._status_filter = StatusFilter(job.status, job.phase)
        self._user_filter = UserFilter(job.created_by)
        self.column_filters = (
            self._status_filter,
            TypeFilter(job.type, self._type_options),
            self._user_filter,
            CreatedWithinFilter(job.created_at),
            CreatedBetweenFilter(job.created_at),
            ParamsFilter(job.params, lambda term: jobs.store.params_clause(term)),
            FinishedBetweenFilter(job.finished_at),
            ScheduleFilter(job.schedule_id),
        )
        super().__init__(job, jobs.db, **kwargs)

    def _type_options(self) -> list[tuple[str, str]]:
        return [(t.name, t.title) for t in self.jobs.registry]
