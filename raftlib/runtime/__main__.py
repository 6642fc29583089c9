"""``python -m raftlib.runtime``: the ``raftlib`` command line (members are started this way)."""

import sys

from raftlib.runtime._cli import main

sys.exit(main())
