"""The conformance properties, one module per chapter section; run them with ``blockspec run``."""
