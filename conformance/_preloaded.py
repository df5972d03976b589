"""The last module the kill matrix's fork server imports (``conformance._killmatrix.PRELOAD``).

It freezes what the server loaded out of the garbage collector's reach. Each run the server forks would
otherwise walk the server's whole heap (torch, hypothesis, pytest: hundreds of thousands of objects) at
every full collection, and hypothesis makes one as a process's first test starts: 0.27 s of a 0.64 s
one-clause mutant run. ``gc.freeze()`` moves those objects to a permanent generation that collections
skip, as Python's ``gc`` documentation advises before forking; nothing the server loaded is garbage, and
what a run makes is collected as before.
"""

from __future__ import annotations

import gc

gc.freeze()
