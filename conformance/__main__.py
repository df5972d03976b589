"""``python -m conformance`` is the ``blockspec`` command."""

import sys

from conformance._cli import main

sys.exit(main())
