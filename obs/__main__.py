"""``python -m obs`` runs the ``obs`` command."""

import sys

from obs.cli import main

sys.exit(main())
