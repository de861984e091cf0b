"""Entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi <command>``."""

from compose import create_app

app = create_app()
