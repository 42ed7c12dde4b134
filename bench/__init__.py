"""The overhead benchmark: the example apps plain, under `obs run` and under `opentelemetry-instrument`.

Run it with ``make bench`` (or ``python -m bench.run``; ``BENCH_QUICK=1`` for a smoke run). Each module owns
one part: :mod:`bench.peer` the OTLP/HTTP peer that drops, :mod:`bench.apps` launching an app in each mode,
:mod:`bench.wrk` the load, :mod:`bench.process` start-up and exit timing, :mod:`bench.stats` the medians and
ratios, :mod:`bench.report` the tables in ``docs/benchmarks.md``; :mod:`bench.loguru_bench` (the logs
bridge's) measures loguru.
"""
