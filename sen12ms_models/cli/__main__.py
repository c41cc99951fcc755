"""``python -m sen12ms_models.cli``: the ``sen12ms-models`` command line."""

import sys

from sen12ms_models.cli.main import main

sys.exit(main())
