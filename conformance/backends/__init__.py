"""Backend adapters shipped with blockspec. Each imports its framework only when loaded."""
