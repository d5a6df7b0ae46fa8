"""gunicorn's entry point: `gunicorn demo.wsgi:app` (make demo-rp), configured by DEMO_RP_* variables."""

from demo.app import create_app

app = create_app()
