"""``python -m jqmeta``: the ``jqmeta`` command line (:mod:`jqmeta.app.cli`)."""
import sys

from jqmeta.app.cli import main

sys.exit(main())
