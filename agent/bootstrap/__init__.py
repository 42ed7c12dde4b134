"""The folder ``obs run`` puts first on ``PYTHONPATH``: only the ``sitecustomize`` that starts the agent."""
