"""Unit and property tests of the reference framework (``reference/``)."""
