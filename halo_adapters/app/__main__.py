"""``python -m halo_adapters.app ...``: the ``halo`` command."""

import sys

from halo_adapters.app.cli import main

sys.exit(main())
