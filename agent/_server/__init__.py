"""obs's own HTTP server request recording: one request's span and RED figures, the WSGI and ASGI
middlewares, and their Flask and Starlette/FastAPI installers.

Nothing is imported here: each module is loaded by what needs it.
"""
