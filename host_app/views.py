"""The shop's own Flask-Admin views: the panel jobs_admin plugs into."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from wtforms import validators

from jobs_admin.panel import JobsPanelMixin

from .extensions import db


class LoginRequiredMixin:
    """Send anonymous visitors to the login page."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return redirect(url_for("auth.login", next=request.full_path))


class ShopIndexView(LoginRequiredMixin, AdminIndexView):
    """The admin home page."""

    @expose("/")
    def index(self) -> Any:
        return self.render("admin/shop_index.html")


def supplier_of(sku: str) -> str:
    """The supplier prefix of a SKU (``ACME-00001`` -> ``ACME``), as ``products.import``
    makes them."""
    return sku.split("-", 1)[0].upper()


class ProductView(JobsPanelMixin, LoginRequiredMixin, ModelView):
    """The products of the shop; a product's page lists the imports and exports that touched it.

    References: an import of supplier ACME is ``supplier:ACME`` (it writes the ``ACME-*``
    products), an export of profile 7 is ``export-profile:7`` (it reads that profile's SKUs).
    """

    can_view_details = True
    jobs_run_types = ("products.import",)
    jobs_types = ("products.import", "catalog.export")
    jobs_panel_title = "Imports and exports of this product"

    def jobs_reference(self, obj: Any) -> str:
        return f"supplier:{supplier_of(obj.sku)}"

    def jobs_references(self, obj: Any) -> list[str]:
        from .models import ExportProfile

        profiles = db.session.scalars(
            db.select(ExportProfile).where(ExportProfile.skus.contains(obj.sku))
        )
        exports = [p.reference for p in profiles if obj.sku in p.sku_list]
        return [self.jobs_reference(obj), *exports]

    def jobs_params(self, obj: Any, type: str) -> dict[str, Any]:
        return {"supplier": supplier_of(obj.sku)}

    column_list = ("sku", "name", "price", "stock")
    column_searchable_list = ("sku", "name")
    column_filters = ("stock",)
    named_filter_urls = True
    page_size = 25

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.role == "admin")


class UserView(LoginRequiredMixin, ModelView):
    """The shop's users (admins only)."""

    column_list = ("username", "email", "role")
    column_exclude_list = ("password_hash",)
    form_excluded_columns = ("password_hash",)
    can_create = False

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.role == "admin")


class ExportProfileView(JobsPanelMixin, LoginRequiredMixin, ModelView):
    """Saved catalog exports: each profile's page shows its last executions and "Run export"."""

    column_list = ("name", "definition", "skus")
    column_searchable_list = ("name",)
    form_columns = ("name", "definition", "skus")
    form_args = {
        "name": {"validators": [validators.DataRequired(), validators.Length(max=100)]},
        "definition": {"validators": [validators.DataRequired(), validators.Length(max=100)]},
        "skus": {"description": "Comma-separated SKUs; those starting with X are discontinued."},
    }
    can_view_details = True
    jobs_run_types = ("catalog.export",)
    jobs_types = ("catalog.export",)

    def jobs_reference(self, obj: Any) -> str:
        return str(obj.reference)

    def jobs_params(self, obj: Any, type: str) -> dict[str, Any]:
        return {"definition": obj.definition, "skus": obj.sku_list}

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        """Admins and operators manage profiles; a viewer only looks."""
        return bool(current_user.is_authenticated and current_user.role in ("admin", "operator"))

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return self.can_create

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return self.can_create
