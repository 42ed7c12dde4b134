"""The wire: OTLP protobuf written directly (spans, metrics) and OTLP/JSON lines for files.

Nothing is imported here: each module is loaded by what needs it.
"""
