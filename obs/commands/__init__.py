"""One module per ``obs`` subcommand; each exposes ``register(subparsers)``."""
