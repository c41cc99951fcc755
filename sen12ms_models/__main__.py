"""``python -m sen12ms_models``: the ``sen12ms-models`` command line."""

from sen12ms_models.cli.main import main

raise SystemExit(main())
