"""The job panel on a host's own Flask-Admin ``ModelView``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from ..i18n import LAST_EXECUTIONS
from ._render import render_panel

if TYPE_CHECKING:
    from flask_admin.contrib.sqla import ModelView as _Base
else:
    _Base = object

#: The templates that wrap the view's own details and edit templates with the panel.
_WRAPPERS = {"details": "jobs_admin/panel_details.html", "edit": "jobs_admin/panel_edit.html"}


class JobsPanelMixin(_Base):
    """Add a record's jobs to the details and edit pages of a ``ModelView``.

    Put it before ``ModelView`` in the bases and say which jobs belong to a record::

        class ExportProfileView(JobsPanelMixin, ModelView):
            jobs_run_types = ["catalog.export"]

            def jobs_reference(self, obj):
                return f"export-profile:{obj.id}"

            def jobs_params(self, obj, type):
                return {"definition": obj.definition, "skus": obj.sku_list}

    The panel lists the record's last :attr:`jobs_limit` executions (jobs whose ``reference``
    is the record's), with Stop, Retry and one "Run <title>" button per run type, as the
    user's permissions allow; it follows them live. The view's own templates are kept: the
    panel is added after their body.
    """

    #: The job types a record's page offers to run ("Run <title>").
    jobs_run_types: Sequence[str] = ()
    #: Only jobs of these types are listed (``None``: every type).
    jobs_types: Sequence[str] | None = None
    #: How many executions are listed, newest first.
    jobs_limit: int = 5
    #: The panel's heading.
    jobs_panel_title: Any = LAST_EXECUTIONS

    def jobs_reference(self, obj: Any) -> str:
        """The reference of ``obj``'s jobs (what a job started from its page gets)."""
        raise NotImplementedError("JobsPanelMixin needs a jobs_reference(self, obj) method")

    def jobs_references(self, obj: Any) -> Sequence[str]:
        """Every reference whose jobs the page lists (default: :meth:`jobs_reference`)."""
        return [self.jobs_reference(obj)]

    def jobs_params(self, obj: Any, type: str) -> dict[str, Any]:
        """Params prefilled in the run form of ``type`` started from ``obj``'s page."""
        return {}

    def jobs_panel(self, obj: Any, nonce: str = "") -> Markup:
        """The panel of ``obj`` for the current user (empty if they may not see jobs)."""
        return render_panel(
            nonce,
            self.jobs_panel_title,
            reference=list(self.jobs_references(obj)),
            types=self.jobs_types,
            run=list(self.jobs_run_types),
            limit=self.jobs_limit,
            params={t: self.jobs_params(obj, t) for t in self.jobs_run_types},
            run_reference=self.jobs_reference(obj),
        )

    def render(self, template: str, **kwargs: Any) -> Any:
        page = {self.details_template: "details", self.edit_template: "edit"}.get(template)
        model = kwargs.get("model")
        if page is not None and model is not None:
            nonce = ""
            generator = getattr(self.admin, "csp_nonce_generator", None)
            if generator is not None:
                nonce = f'nonce="{generator()}"'
            kwargs["jobs_admin_parent_template"] = template
            kwargs["jobs_admin_panel_html"] = self.jobs_panel(model, nonce)
            template = _WRAPPERS[page]
        return super().render(template, **kwargs)
