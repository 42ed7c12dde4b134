"""The folder ``obs run`` puts first on ``PYTHONPATH``: only the ``sitecustomize`` that starts the agent."""

RUN_ID_VARIABLE = "OBS_RUN_ID"
"""Set by ``obs run`` for the app: one id for the whole run, so a line said once is said once per run."""
