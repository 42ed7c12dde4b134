"""The resolved configuration: each signal's route, the resource, the span and log limits.

Nothing is imported here: each module is loaded by what needs it.
"""
