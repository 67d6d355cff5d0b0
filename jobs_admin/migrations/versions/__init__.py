"""jobs_admin's Alembic revision scripts (a package only so that setuptools ships them)."""
