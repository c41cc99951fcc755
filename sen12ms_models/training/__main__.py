"""``python -m sen12ms_models.training train ...``: the entry point ``torchrun -m`` needs.

It runs the ``sen12ms-models`` command line, so ``train``, ``reproduce``, ``evaluate``,
``export`` and ``publish`` take the same arguments here as there.
"""

import sys

from sen12ms_models.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
