"""``python -m lrscape ...``: the command line, as the ``lrscape`` script runs it."""

import sys

from lrscape.cli import main

if __name__ == "__main__":
    sys.exit(main())
