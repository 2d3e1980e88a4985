"""``python -m edgewatch`` is the ``edgewatch`` command."""

import sys

from edgewatch.cli import main

sys.exit(main())
