"""``python -m tests.simulator``: see :mod:`tests.simulator.cli`."""

import sys

from .cli import main

sys.exit(main())
