"""The WSGI entry point: ``gunicorn wsgi:app``; ``flask`` finds ``app`` here by itself."""

from app import create_app

app = create_app()
