"""What every room leans on: the agent's own voice (report once, announce once per run), fork hooks,
late imports a fork cannot catch half-done, and the import hook that boots the agent.

Nothing is imported here: each module is loaded by what needs it.
"""
