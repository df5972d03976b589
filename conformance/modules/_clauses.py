"""The module-contract clauses and the function that checks each one over one drawn example."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _behaviour as B
from conformance.modules import _compile as P
from conformance.modules import _construction as C
from conformance.modules import _gradients as G
from conformance.modules import _state as S
from conformance.modules._subject import ModuleSubject

ClauseFunction = Callable[[ModuleSubject, Check, st.DataObject], None]


@dataclass(frozen=True)
class ContractClause:
    """A clause id, its check, and how many examples it needs (None: the profile's number)."""

    id: str
    function: ClauseFunction
    examples: int | None = None


#: Every module-contract clause, in an order where dependencies come first.
CONTRACT: tuple[ContractClause, ...] = (
    ContractClause("MOD-ANY-BATCH", B.check_any_batch),
    ContractClause("MOD-REGISTERED", B.check_registered),
    # Structural, like ties: a few examples (module seeds) suffice.
    ContractClause("MOD-HELPERS-REGISTERED", B.check_helpers_registered, examples=3),
    ContractClause("MOD-EVAL-DETERMINISTIC", B.check_eval_deterministic),
    ContractClause("MOD-INPUT-UNCHANGED", B.check_input_unchanged),
    ContractClause("MOD-GRAD-REACHES", G.check_grad_reaches),
    ContractClause("MOD-DEVICE-MOVE", B.check_device_move),
    ContractClause("MOD-DTYPE-MOVE", B.check_dtype_move),
    # A wrong backward shows on almost every example, and each costs several forwards in float64.
    ContractClause("MOD-GRAD-CORRECT", G.check_grad_correct, examples=G.EXAMPLES),
    ContractClause("MOD-STATE-ROUNDTRIP", S.check_state_roundtrip),
    ContractClause("MOD-DEEPCOPY", S.check_deepcopy),
    # Ties are structural: the inputs play no part, so a few examples (module seeds) suffice.
    ContractClause("MOD-TIES-KEPT", S.check_ties_kept, examples=3),
    ContractClause("MOD-NONCONTIGUOUS", B.check_noncontiguous),
    ContractClause("MOD-BATCH-INDEPENDENT", B.check_batch_independent),
    ContractClause("MOD-CHANNELS-LAST", B.check_channels_last),
    # Structural: how the module is made and switched, whatever the inputs.
    ContractClause("MOD-FACTORY-KWARGS", C.check_factory_kwargs, examples=3),
    ContractClause("MOD-MODES-REACH", C.check_modes_reach, examples=3),
    ContractClause("MOD-META-INIT", C.check_meta_init, examples=3),
    # Each example costs a double backward and finite differences of the gradient.
    ContractClause("MOD-GRADGRAD", G.check_gradgrad, examples=G.GRADGRAD_EXAMPLES),
    # Compiled once per run; each new input shape may recompile.
    ContractClause("MOD-COMPILE-PARITY", P.check_compile_parity, examples=P.EXAMPLES),
)

BY_ID: dict[str, ContractClause] = {c.id: c for c in CONTRACT}
