"""Guards for the private upstream names obs.agent._compat uses: each fails once an upgrade renames one."""

from __future__ import annotations

import inspect


def test_dbapi_metric_attributes_hook_exists_with_the_arguments_compat_wraps() -> None:
    """contrib's DB-API layer still builds the operation metric's attributes in
    ``CursorTracer._get_metric_attributes(operation_name, error)``, which obs extends with the collection."""
    from opentelemetry.instrumentation.dbapi import CursorTracer

    method = CursorTracer._get_metric_attributes
    assert list(inspect.signature(method).parameters) == ["self", "operation_name", "error"]
    assert callable(CursorTracer.traced_execution) and callable(CursorTracer.traced_execution_async)
