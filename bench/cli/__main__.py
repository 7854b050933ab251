"""``python -m ppbench.cli``: the ``ppbench`` command (also ``python -m ppbench``)."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
