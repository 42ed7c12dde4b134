"""Started by Python itself in every process that ``obs run`` launches (its folder is on ``PYTHONPATH``).

It first runs the ``sitecustomize`` that Python would have found without this one (a user's or a
distribution's), then arms the agent lazily: the SDK loads when the app imports something worth observing.
``PYTHONPATH`` is inherited, so spawned children (uvicorn workers, ``--reload``, multiprocessing spawn) run
this file too; forked children (gunicorn workers) inherit the running agent. Kept to plain syntax on purpose:
an app may run on another Python than obs's, and then this file must fail quietly, not with a SyntaxError.
"""

import os
import sys

RUN_PID_VARIABLE = "OBS_RUN_PID"
"""Set by ``obs run`` to its pid, which the app keeps (exec): only that process explains a failed start."""


def _chain() -> None:
    """Run the sitecustomize that would have been imported without ours, as the site module does."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from importlib.machinery import PathFinder

        paths = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
        spec = PathFinder.find_spec("sitecustomize", paths)
        if spec is None or spec.loader is None:
            return
        import importlib.util  # only now: it loads contextlib and more, which most processes never need

        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception as error:
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            sys.stderr.write(
                f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(error).__name__}: {error}\n"
            )


def _start() -> None:
    try:
        from obs.agent._lifecycle import start
    except Exception as error:
        if os.environ.get(RUN_PID_VARIABLE) == str(os.getpid()):
            sys.stderr.write(
                f"obs: the agent is not installed for {sys.executable} ({error}); the app runs without it\n"
            )
        return
    try:
        from obs.agent._integrations.celery_pools import patch_like_celery
    except Exception:
        pass
    else:
        patch_like_celery()
    start({}, lazy=True)


_chain()
_start()
