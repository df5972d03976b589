"""A module target with constructor arguments: ``"torch.nn:Linear(6, 4)"``, ``"timm:create_model('resnet10t')"``.

The arguments are Python literals only (numbers, strings, tuples, lists, dicts, sets, True, False, None),
read with :func:`ast.literal_eval`, which evaluates no code. Why that is safe: the only code that runs is
the callable the target names, called with those values, which is what naming a zero-argument factory
already runs (as importing its module runs that module's code); nothing from the command line is executed.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from typing import Any

from conformance.modules._types import ModuleTargetError


def split_call(target: str) -> tuple[str, tuple[Any, ...], dict[str, Any]] | None:
    """``("torch.nn:Linear", (6, 4), {})`` for ``"torch.nn:Linear(6, 4)"``; None for a target without a call."""
    start = target.find("(")
    if start < 0 or not target.rstrip().endswith(")"):
        return None
    head, call = target[:start].strip(), target[start:].strip()
    try:
        node = ast.parse(f"_{call}", mode="eval").body
    except SyntaxError as exc:
        raise ModuleTargetError(target, f"the arguments {call} do not parse: {exc.msg}") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.func.id != "_":
        raise ModuleTargetError(target, f"expected one call after the name, like Linear(6, 4), but got {call}")
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ValueError("**")
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except ValueError:
        raise ModuleTargetError(
            target,
            f"the arguments {call} must be Python literals (numbers, strings, tuples, lists, dicts, True/False/None)",
            "for anything else, write a zero-argument factory function in a file and name it (file.py:make)",
        ) from None
    return head, args, kwargs


def factory_of(target: str, resolve: Callable[[str], Any]) -> Any:
    """The factory a target names: the object itself, or the object bound to the target's literal arguments."""
    parts = split_call(target)
    if parts is None:
        return resolve(target)
    head, args, kwargs = parts
    obj = resolve(head)
    if not callable(obj):
        raise ModuleTargetError(target, f"{type(obj).__name__} is not callable, so it takes no arguments")
    return functools.partial(obj, *args, **kwargs)
