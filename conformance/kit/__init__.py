"""The suite kit: what the conformance tests in ``conformance/suite/`` are written with.

- :mod:`~conformance.kit.strategies` — hypothesis strategies for architectures, ties, shapes, dtypes
  (public for adapter authors as :mod:`conformance.strategies`);
- :mod:`~conformance.kit.oracle` — the expected values, computed in NumPy from an architecture;
- :mod:`~conformance.kit.stats` — distribution-free tests for the initializer clauses;
- :mod:`~conformance.kit.checks` — assertions bound to a clause, naming backend, observed and expected;
- :mod:`~conformance.kit.profiles` — the hypothesis profiles (``fast``, ``ci``, ``thorough``).

Importing this package imports none of them (the pytest plugin reads the profile names).
"""
