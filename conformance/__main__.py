"""``python -m conformance`` is the ``blockspec`` command."""

import sys

from conformance._cli import main

if __name__ == "__main__":  # not when a multiprocessing child re-imports the parent's main module
    sys.exit(main())
