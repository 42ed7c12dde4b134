"""`obs init`'s machinery: plan what to write from what was detected, edit the project's dependency and
settings files, write the observability/ tree, and report what was done (the command is obs/commands/init.py).
"""
