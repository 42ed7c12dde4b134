"""The way out: one destination per signal, its sinks (OTLP/HTTP, gRPC, file, console), the
HTTP sender, and the local-file fallback when no collector answers.

Nothing is imported here: each module is loaded by what needs it.
"""
