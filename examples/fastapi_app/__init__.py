"""The FastAPI example: ``uvicorn examples.fastapi_app.app:app`` (or ``python -m examples.fastapi_app.app``).
"""
