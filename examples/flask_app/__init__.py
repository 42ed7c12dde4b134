"""The Flask example: ``gunicorn examples.flask_app.app:app`` (or ``python -m examples.flask_app.app``)."""
