"""Mutant backends: each breaks one behaviour a clause must catch.

The kill matrix runs a mutant on the clauses whose tests read an attribute it
redefines (``conformance._access``), and on every clause when it redefines a
dunder. So a mutant that keeps state makes it on first use (a
``functools.cached_property``), not in ``__init__``.
"""
