"""The normative clauses of blockspec, as data, and their typed loader.

>>> from spec import load_catalogue
>>> catalogue = load_catalogue()
>>> catalogue["TIE-PARAMS-ONCE"].section
'4.2.3'
"""

from __future__ import annotations

from spec._errors import BlockspecError, SpecError, SpecProblem
from spec._loader import CLAUSES_DIR, load_catalogue
from spec._markdown import render_catalogue
from spec._model import CAPABILITIES, SECTIONS, Catalogue, Clause, Level

__all__ = [
    "CAPABILITIES",
    "CLAUSES_DIR",
    "SECTIONS",
    "BlockspecError",
    "Catalogue",
    "Clause",
    "Level",
    "SpecError",
    "SpecProblem",
    "load_catalogue",
    "render_catalogue",
]
