"""The demo shop for ``gunicorn wsgi:app`` and ``flask --app wsgi run``."""

from host_app import create_app

app = create_app()
