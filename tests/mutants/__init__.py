"""Mutant backends: each breaks one behaviour a clause must catch."""
