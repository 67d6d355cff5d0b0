"""The shop's own Flask-Admin views: the panel jobs_admin plugs into."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user


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


class ProductView(LoginRequiredMixin, ModelView):
    """The products of the shop."""

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
