"""The way out: one destination per signal, its sinks (OTLP/HTTP, gRPC, file, console), the
HTTP sender, the local-file fallback when no collector answers, and the count of what was not exported
(``losses``, by reason).

Nothing is imported here: each module is loaded by what needs it.
"""
