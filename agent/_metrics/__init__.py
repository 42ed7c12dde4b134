"""Metrics: the SDK built at its first need, meters handed out before it, process metrics, the RED
store and its data, and the metrics of a process that never built the SDK.

Nothing is imported here: each module is loaded by what needs it.
"""
