"""What every room leans on: the agent's own voice (report once, announce once per run), fork hooks,
late imports a fork cannot catch half-done, the import hook that boots the agent; scrubbing secrets, the
exit deadline shared by a run's processes.

Nothing is imported here: each module is loaded by what needs it.
"""
