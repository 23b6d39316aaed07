"""``python -m meltdyn.cli``: the same as the ``meltdyn`` command."""

import sys

from meltdyn.cli.dispatch import main

sys.exit(main())
