"""The shop's own models: users with a role, and products."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A person who may log in to the shop's admin."""

    __tablename__ = "shop_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20), default="viewer")
    #: Part of every session's user id (:meth:`get_id`); signing out bumps it, so every session
    #: cookie issued before (a copied one, another browser's) stops working.
    session_version: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session: ``"<id>:<session_version>"``."""
        return f"{self.id}:{self.session_version or 0}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __str__(self) -> str:
        return self.username


class Product(db.Model):  # type: ignore[name-defined,misc]
    """A product in the shop's catalog."""

    __tablename__ = "shop_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("0"))
    stock: Mapped[int] = mapped_column(sa.Integer, default=0)
    image_url: Mapped[str | None] = mapped_column(sa.String(300))

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ExportProfile(db.Model):  # type: ignore[name-defined,misc]
    """A saved catalog export: which layout, which SKUs. Its page runs and follows the exports
    (jobs with the reference ``export-profile:<id>``)."""

    __tablename__ = "shop_export_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    definition: Mapped[str] = mapped_column(sa.String(100), default="spring")
    #: Comma-separated SKUs, as the export's run form takes them.
    skus: Mapped[str] = mapped_column(sa.Text, default="")

    @property
    def sku_list(self) -> list[str]:
        """The profile's SKUs as a list."""
        return [s.strip() for s in self.skus.replace("\n", ",").split(",") if s.strip()]

    @property
    def reference(self) -> str:
        """The reference of its exports."""
        return f"export-profile:{self.id}"

    def __str__(self) -> str:
        return self.name
