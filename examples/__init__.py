"""Small real apps that obs instruments: the demo, the tests and the benchmarks run them.

``flask_app`` and ``fastapi_app`` serve the same little shop (sqlite, an outgoing HTTP call to ``upstream``,
loguru and stdlib logging, a route that fails); ``traffic`` sends them a bounded mix of requests; ``demo`` is
what ``make demo`` runs.
"""
