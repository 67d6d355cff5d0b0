"""Flask-Admin views of jobs_admin."""

from __future__ import annotations

from ._setup import init_admin

__all__ = ["init_admin"]
