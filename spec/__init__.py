"""The normative clauses of blockspec, as data, and their typed loader.

>>> from spec import load_catalogue
>>> catalogue = load_catalogue()
>>> catalogue["TIE-PARAMS-ONCE"].section
'4.2.3'
>>> load_catalogue(subject="module")["MOD-REGISTERED"].subject
'module'
"""

from __future__ import annotations

from spec._errors import BlockspecError, SpecError, SpecProblem
from spec._loader import ALL, CLAUSES_DIR, load_catalogue
from spec._markdown import render_catalogue
from spec._model import CAPABILITIES, DEFAULT_SUBJECT, SECTIONS, SUBJECTS, Catalogue, Clause, Level

__all__ = [
    "ALL",
    "CAPABILITIES",
    "CLAUSES_DIR",
    "DEFAULT_SUBJECT",
    "SECTIONS",
    "SUBJECTS",
    "BlockspecError",
    "Catalogue",
    "Clause",
    "Level",
    "SpecError",
    "SpecProblem",
    "load_catalogue",
    "render_catalogue",
]
