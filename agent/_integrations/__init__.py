"""What obs adds to the upstream instrumentations of the libraries an app talks to, one file per library:
the stable database conventions completed on the DB-API layer (database), Redis commands as database
operations (redis_commands), Celery task metrics (celery_tasks), and a green Celery worker patched before the
agent makes anything (celery_pools).

Nothing is imported here: each module is loaded when its library is instrumented.
"""
