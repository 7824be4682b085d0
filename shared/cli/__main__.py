"""``python -m shared.cli``: the ``pmo`` command."""

import sys

from shared.cli import main

sys.exit(main())
