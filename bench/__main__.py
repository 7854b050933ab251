"""``python -m ppbench``: the ``ppbench`` command, so that launchers can start it as a module.

``torchrun --nproc-per-node 4 -m ppbench run --scheme proposed --profile paper`` starts one process per GPU;
each runs this entry point and the runner trains with DistributedDataParallel (:mod:`ppbench.distributed`).
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
