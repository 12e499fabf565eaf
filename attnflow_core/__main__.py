"""``python -m attnflow_core ...``: the command line lives in ``attnflow_core.cli``."""

from __future__ import annotations

import sys

from attnflow_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
