"""The Jobs view's HTML fragments that the panel and "My jobs" fetch again after a change."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_admin import expose

from ..admin._api_args import MAX_TEXT
from ..admin._json_api import JsonApiMixin, error
from ._my_jobs import render_my_jobs_items
from ._render import MAX_LIMIT, render_panel_rows


def _fragment(html: str | None) -> Response:
    if html is None:
        return error(403, "the 'view' permission is needed")
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


class PanelViewsMixin(JsonApiMixin):
    """``<jobs>/panel`` (a panel's executions) and ``<jobs>/my-jobs`` (the user's latest jobs);
    refused like the JSON API (401/403 as JSON, 400 naming a bad argument)."""

    @expose("/panel")
    def panel_fragment(self) -> Response:
        references = request.args.getlist("reference")
        types = request.args.getlist("type")
        for name, values in (("reference", references), ("type", types)):
            if len(values) > MAX_LIMIT or any(len(v) > MAX_TEXT or "\x00" in v for v in values):
                return error(400, f"{name}: too many or too long values", name)
        unknown = [t for t in types if t not in self.jobs.registry]
        if unknown:
            return error(400, "type: not a registered job type", "type")
        if not references:
            return error(400, "reference: missing", "reference")
        options: dict[str, Any] = {
            "reference": references,
            "types": types or None,
            "limit": request.args.get("limit", 5),
            "return_url": request.args.get("url"),
        }
        return _fragment(render_panel_rows(**options))

    @expose("/my-jobs")
    def my_jobs_fragment(self) -> Response:
        return _fragment(render_my_jobs_items(request.args.get("limit", 10)))
