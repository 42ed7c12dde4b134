"""Traces: the span queue that never makes the app wait, and obs's default sampler.

Nothing is imported here: each module is loaded by what needs it.
"""
