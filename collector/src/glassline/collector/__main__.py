"""``python -m glassline.collector``: the ``glassline-collector`` command, where the script is
not on the PATH (a venv not activated, ``python -m`` by habit)."""

import sys

from glassline.collector.cli import main

sys.exit(main())
