"""The reach audit (issue 21): for every chapter clause, what its tests draw and what the framework accepts.

One row per clause of the chapter catalogue. A row names the strategies its
tests call (``draws``) and, for every quantity the clause's statement speaks
of, the range it is drawn over and the range a framework really accepts; a
quantity drawn over less than that carries its reason (``gap``). A drawn
range with a ``dimension`` is read from the reach records the strategies
themselves are held to (``REACH``, ``MORE_REACH``), never written twice.

``blockspec spec --reach`` prints :func:`render`; docs/reach.md is its output.
``tests/kit/test_reach.py`` keeps the table true: every clause has a row,
every named strategy is called by a test citing that clause, every new
dimension's strategy reaches its record, and docs/reach.md is current.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from conformance.kit.reach_strategies import MORE_REACH
from conformance.kit.strategies import REACH, Reach


@dataclass(frozen=True)
class Quantity:
    """One quantity a clause speaks of: its drawn range (a reach record's, or ``drawn``), what is accepted, any gap."""

    name: str
    accepts: str
    dimension: str = ""  # a key of REACH or MORE_REACH: the drawn range is that record's
    drawn: str = ""  # the drawn range in words, where no reach record holds it
    gap: str = ""  # why the draw stops short of what is accepted; "" when it does not

    def drawn_range(self) -> str:
        if self.dimension:
            record = reach_record(self.dimension)
            return f"{record.low}..{record.high} ({record.strategy}; reaches {', '.join(map(str, record.boundaries))})"
        return self.drawn


@dataclass(frozen=True)
class Row:
    """A clause's row: the strategies its tests call, and its quantities."""

    draws: tuple[str, ...]
    quantities: tuple[Quantity, ...]


def reach_record(dimension: str) -> Reach:
    """The reach record of ``dimension``, from REACH or MORE_REACH."""
    if dimension in REACH:
        return REACH[dimension]
    return MORE_REACH[dimension]


# --- quantities shared by many rows --------------------------------------------------------------------

_FLOAT_DTYPES = "every float dtype the backend declares (float16, bfloat16, float32, float64 for torch)"
_HALF_GAP = (
    "float16 and bfloat16 are drawn in the forward and gradient clauses (BLOCK-FORWARD-VALUE, BLOCK-BACKWARD-*, "
    "on small MLPs: half_mlps) and in file and device copies; here float32 and float64 only: the oracle's bound "
    "gamma(K) grows with the terms K of every sum on a net's path, and bfloat16's (unit roundoff 2**-8) has "
    "none past K = 128, which a drawn net of up to 40 nodes and widths to 300 passes"
)
DTYPE = Quantity("dtype", _FLOAT_DTYPES, drawn="float32, float64 (float_dtypes)", gap=_HALF_GAP)
#: The forward and gradient clauses: every declared float dtype, the half ones on a small MLP in each example.
DTYPE_ALL = Quantity(
    "dtype",
    _FLOAT_DTYPES,
    drawn="float32, float64 (float_dtypes); in each example also every half dtype among the backend's "
    "float_dtypes (half_dtypes: float16 and bfloat16 for torch, float16 for the reference), tolerance "
    "2 gamma(K) |x||W| from the dtype's unit roundoff, plus its subnormal rounding per term (oracle.underflow)",
)
HALF_SIZES = (
    Quantity(
        "half-precision layer widths",
        "any width, 1 and up",
        dimension="half_width",
        gap="over 8 (and rows over 4): the bound's K <= 60 keeps bfloat16's tolerance under 0.7 of the "
        "magnitude |x||W|; wider, it would pass a wrong layer or have no bound at all (K >= 128)",
    ),
    Quantity("half-precision rows", "1 and up", dimension="half_rows"),
)
HALF_GRAD = Quantity(
    "half-precision gradients",
    "every input",
    drawn="the half MLP's gradients where no ReLU input lies within rounding of 0 (about 80% of float16 "
    "draws, 45% of bfloat16's)",
    gap="an ambiguous ReLU mask may differ from the oracle's legitimately: that example's half check is skipped",
)
DTYPE_DEFAULT = Quantity(
    "dtype",
    "the framework's default dtype for the block",
    drawn="the default dtype (float32)",
    gap="the chapter's block and a lazy layer are built in the default dtype; the protocol's build takes no dtype "
    "for parameters that do not exist yet",
)
DTYPE_INIT_FLOAT32 = Quantity(
    "dtype",
    _FLOAT_DTYPES,
    drawn="float32",
    gap="every float dtype is drawn for normal_ and constant_ (INIT-NORMAL, INIT-NORMAL-ARGUMENTS, INIT-CONSTANT); "
    "zeros_, the uniform fills, my_init and the default init are judged in float32 only: a half-precision "
    "uniform fill needs the grid question of its arguments answered first (torch's bfloat16 U(5, 5.5) is 0.032 "
    "from the continuous uniform, past the DKW threshold); not widened in this round",
)
BATCH = Quantity(
    "batch",
    "any number of rows, 1 and up",
    dimension="batch",
    gap="over 8 rows: drawn where rs.ranked_"
    "inputs or wide_batches is named (forward clauses); elsewhere 1..8 keeps gradient clauses cheap",
)
WIDE_BATCH = Quantity("batch", "any number of rows, 1 and up", dimension="wide_batch")
WIDE_BATCH_GRAD = Quantity(
    "batch",
    "any number of rows, 1 and up",
    dimension="wide_batch",
    gap="rare: a bias gradient wrong past 8 rows (not a multiple of 8) fails this clause at the ci profile "
    "(30 examples) but not always at fast (10), so no mutant of it is in the kill matrix yet",
)
RANKED = (
    Quantity(
        "input rank",
        "1 or more (a layer acts on the last dimension); 2 or more where the backend declares min_input_rank 2 (Keras' Dense)",
        dimension="input_rank",
    ),
    WIDE_BATCH,
)
RANK_2 = Quantity(
    "input rank",
    "1 or more",
    drawn="2 (a batch of rows)",
    gap="gradient and state clauses take a matrix: the oracle's gradients are written for rank 2",
)
WIDTH = Quantity("layer widths", "any width, 1 and up", dimension="width")
LAYER_WIDTH = Quantity(
    "layer widths",
    "any width, 1 and up",
    dimension="layer_width",
    gap="over 12: drawn by mlps (to 256) and nets (to 300) in the forward, gradient and naming clauses",
)
FAN = Quantity(
    "fan-in, fan-out",
    "any width, 1 and up",
    dimension="fan",
    gap="under --shapes palette (compiling frameworks) the fans stop at 12: the palette keeps a range's top "
    "only up to 12; drawn freely they reach 64",
)
NET_WIDTH = Quantity("layer widths", "any width, 1 and up", dimension="net_width")
CHILDREN = Quantity("children per container", "any count, 0 and up", dimension="children")
DEPTH = Quantity(
    "nesting depth", "any depth", dimension="depth", gap="past 5: each level costs a node of a 40-node budget"
)
NODES = Quantity("modules in a net", "any count", dimension="nodes")
VALUES = Quantity(
    "values",
    "any float",
    drawn="standard normal times 0.01, 1 or 100, from a drawn seed",
    gap="NaN and inf are drawn in file and device copies (raw_arrays); a forward's NaN propagation is no clause",
)
NET = (DTYPE, NET_WIDTH, CHILDREN, DEPTH, NODES)
MLP = (DTYPE, WIDTH)
CHAPTER_SIZES = Quantity(
    "layer widths", "the chapter's own (20, 256, 10)", drawn="fixed by the chapter's block", gap="the block's sizes"
)
DEVICE_ANY = Quantity(
    "devices",
    "the host and every accelerator present",
    drawn="the run's device (--device); the reference simulates accelerators on any CPU",
    gap="on CPU-only torch, accelerator clauses are skipped: the reference's simulated devices check them",
)
DEVICE_TWO = Quantity(
    "devices",
    "two or more accelerators",
    drawn="the run's accelerator and one other (simulated on the reference)",
    gap="skipped where fewer than two accelerators are present",
)
ELEMENTS = Quantity("elements of a tensor", "0 up to memory", dimension="elements")
ALL_DTYPES = Quantity("dtype", "every dtype the backend declares", drawn="every declared dtype (raw_arrays)")
SPECIAL = Quantity("special values", "NaN payloads, -0.0, subnormals, inf", dimension="special_percent")
_LAYOUTS_DRAWN = (
    "contiguous, or a view the framework makes (layouts; strided_view, LAYOUTS): transposed (every dimension "
    "reversed, rank 2 and up), a step (every other row) or an offset (all rows but the first: a narrow); the "
    "rows a view skips hold the drawn bits inverted; expected values from NumPy"
)
_LAYOUTS_GAP = (
    "one view per tensor, on dimension 0 (step 2, offset 1) or all dimensions reversed: views of views, other "
    "steps and offsets, and slices of other dimensions are not drawn; JAX has no views (its slices are copies)"
)
LAYOUT = Quantity(
    "memory layout", "contiguous, transposed, strided, views sharing storage", drawn=_LAYOUTS_DRAWN, gap=_LAYOUTS_GAP
)
LAYOUT_LOAD = Quantity(
    "memory layout",
    "contiguous, transposed, strided, views sharing storage",
    drawn=f"{_LAYOUTS_DRAWN}; one layout for every tensor of the state (a 1-D one stays contiguous where transposed)",
    gap=f"{_LAYOUTS_GAP}; a state of views is checked for its loaded values and for the views left unchanged by "
    "writes to the model, but is not written to itself (the protocol's assign writes parameters only)",
)
SHARED_VIEWS = Quantity(
    "views of one tensor saved together",
    "any views of one storage, in any container",
    drawn="2..4 views of one tensor in one list (layouts: contiguous, transposed, step, offset, repeats "
    "included), over the drawn rows interleaved with their bits inverted",
    gap="in a list only: the dicts and nestings of io_containers hold distinct tensors",
)
SHAPE = Quantity(
    "tensor shape",
    "rank 0 and up, 0-element included",
    drawn="rank 0..3, each dimension 0..4; rare 2-D or 1-D of more than 2**16 elements (raw_arrays)",
)
INIT_SHAPE = Quantity(
    "tensor shape",
    "any 1-D or 2-D parameter",
    drawn="a weight of 32768 elements or more (large_layers), or the same count as a 1-D bias",
    gap="small tensors: too few samples for the DKW bound the clause is judged by",
)
INIT_ARGS = Quantity(
    "initializer arguments",
    "any finite float",
    drawn="a few fixed values per argument (sampled_from)",
    gap="a == b, an interval of a few units in the last place, bounds at a dtype's ends and half precision "
    "are drawn for normal_ only (INIT-NORMAL, INIT-NORMAL-ARGUMENTS); for uniform_ the clause would first have to "
    "say how U(a, b) is put on a dtype's grid: measured on torch 2.13 (2*10**6 samples), uniform_(a, a + 4 ulp) "
    "gives a, a + 1, 2 and 3 ulp a quarter each (a floor onto [a, b)), 0.125 away from the nearest-rounded "
    "uniform, and bfloat16's U(5, 5.5) is 0.032 away, past the DKW threshold; the continuous CDF is exact "
    "enough for the float32 intervals drawn",
)
CONSTANT_ARGS = Quantity(
    "constant value (binary exponent)",
    "any finite value of w's dtype, subnormals and both zeros included",
    dimension="init_constant",
    gap="in each example one ordinary value (within +-1e6) and one special one (special_constants: both zeros, "
    "the dtype's largest finite value, smallest normal and subnormal, +-2**31, +-2**53, or any finite value); a "
    "value past the dtype's largest is not drawn, torch refuses it; the sign of a zero is not compared (-0.0 == 0.0)",
)
DTYPE_INIT = Quantity(
    "dtype",
    _FLOAT_DTYPES,
    drawn="float32, float64 and every half dtype among the backend's float_dtypes (init_dtypes); a half "
    "dtype's argument is drawn as a float32, so it is rounded once (its fill converts through float32)",
)
DEVICE_COUNT = Quantity(
    "simulated accelerators",
    "any count, 0 and up",
    dimension="device_count",
    gap="only where the backend sets its device count (device-count-control: the reference); elsewhere the "
    "machine's own devices",
)
MOVES = Quantity(
    "moves in a row",
    "any number, between any devices present",
    dimension="moves",
    gap="past 4 in a row: not drawn; each move is checked in full; on CPU-only torch the clause is skipped, so "
    "the reference's simulated devices (sim:0, sim:1 and the host) carry it on CI",
)
CONVERSIONS = Quantity(
    "conversions in a row",
    "any number, to any declared float dtype and back",
    dimension="conversions",
    gap="past 4 in a row: not drawn; each conversion is checked in full (identity, dtype, values, ties, names)",
)
DTYPE_CONVERSION = Quantity(
    "dtype",
    _FLOAT_DTYPES,
    drawn="built in float32 or float64 (tied_nets); converted to every declared float dtype, half precision "
    "included once the values are float32 values (conversion_chains)",
    gap="float64 straight to half precision: torch rounds through float32 (c10::Half(float)), NumPy directly, "
    "and a tie may round apart; the clause's 'rounded to it' does not say which",
)
NORMAL_ARGS = Quantity(
    "initializer arguments",
    "any finite mean, and any std >= 0, that w's dtype holds",
    drawn="mean 0, 0.5 or -3 and std 0, 0.01, 1 or 2.5 (std 0: the point mass at the mean), or a coarse "
    "normal: mean -3, 0.5 or 1000 and std 1 or 4 units in its last place (ordinary_normal_arguments; three "
    "times in four in a half dtype); the ends of each dtype's range are INIT-NORMAL-ARGUMENTS'",
)
NORMAL_SPECIAL_ARGS = Quantity(
    "initializer arguments (binary exponent of std)",
    "any finite mean, and any std >= 0, that w's dtype holds",
    dimension="init_normal",
    gap="powers of two only (normal_arguments: std 0, a subnormal, the smallest normal, the largest under the "
    "dtype's largest over 64; mean 0, +-1, +-the largest under a quarter of it), so every sample stays finite; "
    "ordinary values in between are INIT-NORMAL's",
)
DTYPE_NORMAL = Quantity(
    "dtype",
    _FLOAT_DTYPES,
    drawn="float32, float64 and every half dtype among the backend's float_dtypes (init_dtypes); samples are "
    "compared with N(mean, std^2) rounded to the dtype (stats.RoundedNormal: its CDF at the midpoints to the "
    "neighbouring values)",
)
KEYS = Quantity("dict keys", "any count", dimension="dict_keys")
ITEMS = Quantity("list items", "any count", dimension="list_items")
PASSES = Quantity("backward passes", "any count", dimension="backward_passes")
TIE_USES = Quantity("uses of a shared layer", "any count", dimension="tie_uses")
SHARED = Quantity(
    "what is shared, and where",
    "any module, in any containers",
    drawn="a Linear layer (square or not), a whole container (Sequential, named Sequential, Block, with "
    "everything inside it; half the nested ones closed by a Linear back to their input width) and a "
    "parameter-free ReLU, each reused anywhere in the tree where the running width is the one it takes, across "
    "containers and nesting levels (nets(ties='any'), containers=ALL_CONTAINERS); a reused module is a container "
    "three times in five where one fits; each kind in at least 10% of the draws and within 30 examples "
    "(tests/kit/test_strategies_reach.py); a shared container counts every node at each of its paths against the 40-node "
    "budget and its nesting against the depth",
    gap="a shared container holding parameters is in about one draw in eleven (27 of 300 sampled): it must "
    "map the running width at its second place, and widths change along the chain; the kill matrix runs its "
    "mutants at ci, where 9 and 8 of 10 seeded runs catch them",
)
PARAM_USES = Quantity("uses of a shared weight", "any count", dimension="param_tie_uses")
PARAM_TYPES = Quantity("layer types sharing it", "any", dimension="param_tie_types")
NONE = Quantity("(none)", "-", drawn="the clause speaks of no size: a property of the API")


def _row(draws: tuple[str, ...], *quantities: Quantity | tuple[Quantity, ...]) -> Row:
    flat: list[Quantity] = []
    for q in quantities:
        flat.extend(q if isinstance(q, tuple) else (q,))
    return Row(draws, tuple(flat))


#: One row per chapter clause.
ROWS: Mapping[str, Row] = {
    # 4.1 layers and blocks
    "BLOCK-FORWARD-SHAPE": _row(("mlps", "ranked_inputs"), MLP, RANKED),
    "BLOCK-FORWARD-VALUE": _row(
        ("mlps", "ranked_inputs", "batch_sizes", "half_mlps", "half_inputs"),
        DTYPE_ALL,
        WIDTH,
        RANKED,
        VALUES,
        CHAPTER_SIZES,
        HALF_SIZES,
    ),
    "BLOCK-BACKWARD-INPUT": _row(
        ("mlps", "batch_inputs", "half_dtypes"),
        DTYPE_ALL,
        WIDTH,
        WIDE_BATCH_GRAD,
        RANK_2,
        VALUES,
        HALF_SIZES,
        HALF_GRAD,
    ),
    "BLOCK-BACKWARD-PARAMS": _row(
        ("nets", "batch_inputs", "half_dtypes"),
        DTYPE_ALL,
        NET[1:],
        WIDE_BATCH_GRAD,
        RANK_2,
        VALUES,
        HALF_SIZES,
        HALF_GRAD,
    ),
    "BLOCK-REGISTRATION": _row(("nets",), NET),
    "BLOCK-NESTING": _row(("nets", "inputs"), NET, BATCH),
    "CONSTANT-NOT-PARAMETER": _row(("batch_sizes", "seeds"), CHAPTER_SIZES, BATCH, DTYPE_DEFAULT),
    "CONTROL-FLOW": _row(("batch_sizes", "seeds"), CHAPTER_SIZES, BATCH, DTYPE_DEFAULT),
    "LAYER-REUSE-SHARES": _row(("batch_sizes", "seeds"), CHAPTER_SIZES, BATCH, DTYPE_DEFAULT),
    "SEQ-ORDER": _row(("square_stacks", "inputs"), DTYPE, LAYER_WIDTH, BATCH),
    "SEQ-INDEX": _row(("nets",), NET),
    "SEQ-CUSTOM-EQUIV": _row(("square_stacks", "inputs"), DTYPE, LAYER_WIDTH, BATCH),
    # 4.2 parameter management
    "PARAM-LINEAR-STATE": _row(("widths",), LAYER_WIDTH),
    "PARAM-TYPE": _row(("nets",), NET),
    "PARAM-GRAD-NONE": _row(("nets",), NET),
    "PARAM-GRAD-ACCUMULATES": _row(("mlps", "inputs", "backward_passes"), MLP, BATCH, PASSES),
    "PARAM-NAMES-FLAT": _row(("nets",), NET),
    "PARAM-NAMES-NESTED": _row(("nets",), NET),
    "PARAM-NESTED-INDEX": _row(("nested_sequentials",), DEPTH, CHILDREN),
    "STATE-DICT-KEYS": _row(("nets",), NET),
    "MODULE-REPR": _row(("nets",), NET),
    "INIT-NORMAL": _row(
        ("large_layers", "init_dtypes", "ordinary_normal_arguments"), INIT_SHAPE, NORMAL_ARGS, DTYPE_NORMAL
    ),
    "INIT-NORMAL-ARGUMENTS": _row(
        ("large_layers", "init_dtypes", "normal_arguments"), INIT_SHAPE, NORMAL_SPECIAL_ARGS, DTYPE_NORMAL
    ),
    "INIT-ZEROS": _row(("widths",), FAN, DTYPE_INIT_FLOAT32),
    "INIT-CONSTANT": _row(
        ("widths", "init_dtypes", "ordinary_constants", "special_constants"), FAN, DTYPE_INIT, CONSTANT_ARGS
    ),
    "INIT-UNIFORM": _row(("large_layers",), INIT_SHAPE, INIT_ARGS, DTYPE_INIT_FLOAT32),
    "INIT-XAVIER-UNIFORM": _row(("large_layers",), INIT_SHAPE, INIT_ARGS, DTYPE_INIT_FLOAT32),
    "INIT-CUSTOM": _row(("large_layers",), INIT_SHAPE, DTYPE_INIT_FLOAT32),
    "INIT-DEFAULT": _row(("widths",), FAN, DTYPE_INIT_FLOAT32),
    "APPLY-VISITS-ONCE": _row(("nets",), NET),
    "APPLY-POST-ORDER": _row(("nets",), NET),
    "INIT-PER-LAYER": _row(("nets",), NET),
    "PARAM-DIRECT-SET": _row(("mlps", "inputs"), MLP, BATCH),
    "TIE-IDENTITY": _row(("tied_sequences",), TIE_USES, LAYER_WIDTH, DTYPE),
    "TIE-PARAMS-ONCE": _row(("nets",), NET, TIE_USES, SHARED),
    "TIE-STATE-DICT-ALIASES": _row(("nets",), NET, TIE_USES, SHARED),
    "TIE-GRAD-SUM": _row(("tied_nets",), TIE_USES, SHARED, BATCH, RANK_2, DTYPE),
    "TIE-DTYPE-CONVERSION": _row(("tied_nets", "conversion_chains"), TIE_USES, SHARED, DTYPE_CONVERSION, CONVERSIONS),
    "TIE-PARAM-IDENTITY": _row(("param_tied_nets",), PARAM_USES, PARAM_TYPES, LAYER_WIDTH),
    "TIE-PARAM-GRAD-SUM": _row(("param_tied_nets",), PARAM_USES, PARAM_TYPES, BATCH, RANK_2),
    # 4.3 custom layers
    "CENTERED-MEAN": _row(
        ("centered_inputs",),
        Quantity("input shape", "any rank, any size", drawn="rank 1..3, each dimension 1..9 (centered_inputs)"),
        DTYPE,
        Quantity("values", "any float", drawn="normal times 1e-3, 1 or 1e3, offset 0, 5 or -100"),
    ),
    "CENTERED-SHAPE": _row(
        ("centered_inputs",),
        Quantity("input shape", "any rank, any size", drawn="rank 1..3, each dimension 1..9 (centered_inputs)"),
        DTYPE,
    ),
    "CENTERED-NO-PARAMS": _row((), NONE),
    "CENTERED-COMPOSE": _row(
        ("batch_sizes",),
        DTYPE,
        BATCH,
        RANK_2,
        Quantity(
            "layer widths",
            "any",
            drawn="in 1, 5 or 8; hidden 3, 17 or 128",
            gap="a few widths around the chapter's 8, 128",
        ),
    ),
    "MYLINEAR-FORWARD": _row(("my_linear_net", "leading_shapes"), LAYER_WIDTH, BATCH, RANKED, DTYPE),
    "MYLINEAR-GRADS": _row(("my_linear_net",), LAYER_WIDTH, BATCH, RANK_2, DTYPE),
    "CUSTOM-PARAMS-REGISTERED": _row(("nets",), NET),
    "LAZY-UNINITIALIZED": _row(("widths",), LAYER_WIDTH),
    "LAZY-INFERS-SHAPE": _row(
        ("lazy_stacks", "widths", "leading_shapes"),
        LAYER_WIDTH,
        RANKED,
        Quantity("lazy layers", "any count", drawn="1..4 (lazy_stacks)"),
        DTYPE_DEFAULT,
    ),
    "LAZY-WIDTH-MISMATCH": _row(
        ("widths", "batch_sizes"),
        LAYER_WIDTH,
        Quantity("rows of each call", "1 and up", dimension="batch"),
        DTYPE_DEFAULT,
    ),
    "LAZY-LOAD-STATE": _row(("lazy_stacks", "widths", "batch_sizes"), LAYER_WIDTH, BATCH, DTYPE_DEFAULT),
    "LAZY-TO-DEVICE": _row(("lazy_stacks", "widths", "batch_sizes"), LAYER_WIDTH, BATCH, DEVICE_ANY),
    # 4.4 file I/O
    "IO-TENSOR-ROUNDTRIP": _row(("raw_arrays", "layouts"), ALL_DTYPES, SHAPE, ELEMENTS, SPECIAL, LAYOUT),
    "IO-CONTAINER-ROUNDTRIP": _row(("io_containers", "layouts"), KEYS, ITEMS, ALL_DTYPES, SHAPE, SHARED_VIEWS),
    "IO-CONTAINER-KINDS": _row(("odd_containers",), KEYS, ITEMS),
    "IO-STATE-DICT-CLONE": _row(("nets", "inputs"), NET, BATCH),
    "IO-TIES-SURVIVE": _row(
        (),
        Quantity(
            "uses of a shared layer",
            "any count, any positions",
            drawn="the chapter's tied_net (positions 2 and 4)",
            gap="drawn tied nets here are with the tie/strict-load tests' owner (native weight layouts), not yet drawn",
        ),
        DTYPE_DEFAULT,
    ),
    "LOAD-STRICT-MISSING": _row(("altered_state",), NET, Quantity("keys dropped", "any", drawn="1 to all")),
    "LOAD-STRICT-UNEXPECTED": _row(("altered_state",), NET, Quantity("keys added", "any", drawn="1 or more")),
    "LOAD-SHAPE-MISMATCH": _row(("nets",), NET),
    "LOAD-SHAPE-RANK": _row(
        ("widths", "float_dtypes"),
        LAYER_WIDTH,
        DTYPE,
        Quantity("rank of the loaded tensor", "any", drawn="0..3 around the parameter's"),
    ),
    "LOAD-COPIES-VALUES": _row(("nets", "layouts"), NET, LAYOUT_LOAD),
    "LOAD-KEEPS-DTYPE": _row(("nets",), NET),
    "LOAD-CASTS-DTYPE": _row(("nets",), NET),
    "LOAD-NONSTRICT-REPORTS": _row(("altered_state",), NET),
    "IO-NO-CODE-EXECUTION": _row(
        (), Quantity("file contents", "any bytes", drawn="pickles that run code, in every container the format allows")
    ),
    "IO-CORRUPT-FILE": _row(
        ("raw_arrays",),
        ALL_DTYPES,
        Quantity("damage", "any truncation or byte change", drawn="a drawn cut and drawn flipped bytes (seeds)"),
    ),
    # 4.5 GPUs
    "DEV-COUNT": _row(("device_counts", "many_devices"), DEVICE_ANY, DEVICE_COUNT),
    "DEV-TRY-GPU": _row(("device_counts", "many_devices"), DEVICE_ANY, DEVICE_COUNT),
    "DEV-TRY-ALL-GPUS": _row(("device_counts", "many_devices"), DEVICE_ANY, DEVICE_COUNT),
    "DEV-CPU-DEFAULT": _row((), NONE),
    "DEV-UNINDEXED-IS-ZERO": _row((), DEVICE_ANY),
    "DEV-NAME-EQUALITY": _row((), DEVICE_ANY),
    "DEV-TENSOR-PLACEMENT": _row(("raw_arrays",), ALL_DTYPES, SHAPE, DEVICE_ANY),
    "DEV-MIXED-RAISES": _row(
        ("raw_arrays",),
        DEVICE_ANY,
        ALL_DTYPES,
        Quantity(
            "tensor shape",
            "rank 1 and up (a 0-d CPU tensor is a scalar: DEV-SCALAR-PROMOTION), 0-element included",
            drawn="rank 1..3, each dimension 0..4; rare 2-D or 1-D of more than 2**16 elements (raw_arrays); the "
            "other operand of the same shape or one row of it (broadcast)",
        ),
        ELEMENTS,
    ),
    "DEV-SCALAR-PROMOTION": _row((), DEVICE_ANY),
    "DEV-COPY-ROUNDTRIP": _row(
        ("raw_arrays", "device_routes", "layouts"), ALL_DTYPES, SHAPE, ELEMENTS, SPECIAL, DEVICE_ANY, MOVES, LAYOUT
    ),
    "DEV-MULTI-DEVICE": _row((), DEVICE_TWO),
    "DEV-MODULE-TO": _row(
        ("device_routes",),
        DEVICE_ANY,
        Quantity(
            "buffers",
            "nested anywhere",
            drawn="the chapter's FixedHiddenMLP constant",
            gap="a buffer exists only in the chapter's FixedHiddenMLP, a root module: conformance.arch has no "
            "layer kind with a buffer, so a drawn tree holds none; one would touch every adapter's build, the "
            "oracle and the state-dict walk; not done in this round",
        ),
        MOVES,
    ),
    "DEV-MODULE-TO-IDENTITY": _row(("device_routes",), DEVICE_ANY, MOVES),
    "DEV-CONSTANT-FOLLOWS": _row((), DEVICE_ANY, CHAPTER_SIZES),
    "DEV-OUTPUT-ON-DEVICE": _row(("inputs",), DEVICE_ANY, BATCH),
    "DEV-GRAD-ON-DEVICE": _row(("inputs",), DEVICE_ANY, BATCH),
    "DEV-PARITY": _row(("mlps", "inputs"), DEVICE_ANY, MLP, BATCH),
    "DEV-CHECKPOINT-TO-CPU": _row(("io_containers",), DEVICE_ANY, KEYS, ITEMS, ALL_DTYPES),
    "DEV-CHECKPOINT-HOME": _row(("raw_arrays",), DEVICE_ANY, ALL_DTYPES),
}


@dataclass(frozen=True)
class RegionMutant:
    """A mutant wrong only in a region issue 21 opened, and the kill matrix's verdict before and after."""

    name: str
    target: str
    region: str
    before: str
    after: str
    #: False where only the reference can reach the region (it sets its own device count): no torch binding.
    torch: bool = True


#: Recorded runs of ``blockspec kill-matrix`` (fast profile) on the suite before its region was drawn
#: (the commit before issue 21's, or for the later regions b64540b, the commit before their widening)
#: and after; each mutant is bound for torch and the reference (``torch=False``: the reference alone).
REGION_MUTANTS: tuple[RegionMutant, ...] = (
    RegionMutant(
        "OneRowAcceptsWrongWidth",
        "LAZY-WIDTH-MISMATCH",
        "a one-row call of another width (the test always called with 2 rows)",
        "survived (torch, reference)",
        "caught (torch, reference; also under --shapes palette)",
    ),
    RegionMutant(
        "RankThreeScrambled",
        "BLOCK-FORWARD-VALUE",
        "a rank-3 input (inputs were always matrices)",
        "survived (torch, reference)",
        "caught (torch, reference)",
    ),
    RegionMutant(
        "LargeBatchTailDropped",
        "BLOCK-FORWARD-VALUE",
        "more than 8 rows, not a multiple of 8 (batches stopped at 8)",
        "survived (torch, reference)",
        "caught (torch, reference)",
    ),
    RegionMutant(
        "HalfLinearDropsBias",
        "BLOCK-FORWARD-VALUE",
        "a forward in float16 or bfloat16 (forward, gradient and initializer clauses drew float32 and float64)",
        "survived (torch, reference; kill matrix at fast on the base commit, and ci on the forward, gradient and init clauses)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "HalfBiasGradientDropped",
        "BLOCK-BACKWARD-PARAMS",
        "a backward in float16 or bfloat16 (gradient clauses drew float32 and float64)",
        "survived (torch, reference; kill matrix at fast on the base commit)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "ConversionBackRestoresOriginal",
        "TIE-DTYPE-CONVERSION",
        "a module converted back to the dtype it was built in (one conversion per example before)",
        "survived (torch, reference; kill matrix at fast on the base commit, and ci on the conversion and load-dtype clauses)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "SecondMoveCopiesModule",
        "DEV-MODULE-TO-IDENTITY",
        "a module moved a second time (one move per example before); torch binds it in torch_cuda_mutants.py",
        "survived (reference, simulated devices; kill matrix at fast on the base commit, and ci on every clause that moves a module)",
        "caught (reference; fast profile); torch: judged only where CUDA is present",
    ),
    RegionMutant(
        "AcceleratorHopRounds",
        "DEV-COPY-ROUNDTRIP",
        "a float64 tensor copied from one accelerator straight to another (copies went to and from the host)",
        "survived (reference, simulated devices; kill matrix at fast on the base commit, and ci on every clause)",
        "caught (reference; fast profile); torch: judged only where CUDA is present",
    ),
    RegionMutant(
        "TryAllGpusStopsAtFour",
        "DEV-TRY-ALL-GPUS",
        "5 or more accelerators (simulated counts stopped at 3); the reference alone sets its device count",
        "survived (reference; kill matrix at fast on the base commit, and ci on every clause)",
        "caught (reference; fast profile)",
        torch=False,
    ),
    RegionMutant(
        "HalfNormalTruncates",
        "INIT-NORMAL",
        "normal_ on a float16 or bfloat16 tensor (INIT-NORMAL drew float32 and float64); seen where the normal "
        "is coarse, a std of a few units in the last place",
        "survived (torch, reference; kill matrix at fast on the base commit 8780e12)",
        "caught (torch, reference; ci profile)",
    ),
    RegionMutant(
        "ZeroStdFallsBackToOne",
        "INIT-NORMAL",
        "normal_ with std 0 (stds were 0.01, 1 and 2.5)",
        "survived (torch, reference; kill matrix at fast on the base commit 8780e12); survived again on torch "
        "at ci once runs stopped drawing literals of local modules (5b50375): std 0 was one value of a branch, "
        "met by luck of the draws",
        "caught (torch, reference; ci profile); std 0 is a branch of its own since (ordinary_normal_arguments)",
    ),
    RegionMutant(
        "NormalArgumentsInFloat32",
        "INIT-NORMAL-ARGUMENTS",
        "a float64 tensor given a mean or std past float32's range, or a subnormal std (arguments were a few "
        "ordinary values)",
        "survived (torch, reference; the whole suite at fast on the base commit 8780e12, the mutant aimed at "
        "INIT-NORMAL: INIT-NORMAL-ARGUMENTS did not exist)",
        "caught (torch, reference; ci profile)",
    ),
    RegionMutant(
        "EmptyOperandSkipsDeviceCheck",
        "DEV-MIXED-RAISES",
        "an operand with no elements (the operands were float32 ones of 1 to 4 per dimension); torch binds it in "
        "torch_cuda_mutants.py",
        "survived (reference, simulated devices; kill matrix at fast on the base commit 8780e12)",
        "caught (reference; ci profile); torch: judged only where CUDA is present",
    ),
    RegionMutant(
        "IntegerMixCopies",
        "DEV-MIXED-RAISES",
        "integer and boolean operands (the operands were float32); torch binds it in torch_cuda_mutants.py",
        "survived (reference, simulated devices; kill matrix at fast on the base commit 8780e12)",
        "caught (reference; fast profile); torch: judged only where CUDA is present",
    ),
    RegionMutant(
        "LargeConstantWrapsInt32",
        "INIT-CONSTANT",
        "an integral constant_ argument of magnitude 2**31 or more (arguments stayed within +-1e6)",
        "survived (torch, reference; kill matrix at fast on the base commit, and ci on the INIT clauses)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "SaveIgnoresStorageOffset",
        "IO-TENSOR-ROUNDTRIP",
        "a tensor saved from a view at a storage offset or with a step (saved tensors were contiguous or transposed)",
        "survived (torch, reference; kill matrix at fast on 8780e12)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "LoadIgnoresStorageOffset",
        "LOAD-COPIES-VALUES",
        "a state dict of views loaded (the states loaded were another module's parameters)",
        "survived (torch, reference; kill matrix at fast on 8780e12)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "CopyIgnoresStorageOffset",
        "DEV-COPY-ROUNDTRIP",
        "a view copied to an accelerator (copied tensors were contiguous); torch binds it in torch_cuda_mutants.py",
        "survived (reference, simulated devices; kill matrix at fast on 8780e12)",
        "caught (reference; fast profile); torch: judged only where CUDA is present",
    ),
    RegionMutant(
        "LaterViewSavedFromStorageStart",
        "IO-CONTAINER-ROUNDTRIP",
        "views of one tensor saved together in one list (the tensors of a saved container were distinct)",
        "survived (torch, reference; kill matrix at fast on 8780e12)",
        "caught (torch, reference; fast profile)",
    ),
    RegionMutant(
        "StateDictMemoizesContainers",
        "TIE-STATE-DICT-ALIASES",
        "a container shared at two places, side by side or at different nesting levels (only square Linear "
        "layers were shared)",
        "survived (torch, reference; kill matrix at fast on 75b5d7f, before the widening, and ci on the clause)",
        "caught (torch, reference; fast profile; with --seed 1..10 at ci, torch: 9 of 10 runs, since a reused "
        "module is a container one time in two and half the nested containers close square)",
    ),
    RegionMutant(
        "NestedReLUCallsMerged",
        "TIE-GRAD-SUM",
        "a ReLU shared across containers and nesting levels (a ReLU was shared only among the root's own "
        "children, between uses of tied_nets' appended shared Linear)",
        "survived (torch, reference; kill matrix at fast before the widening, and ci on the clause)",
        "caught (torch, reference; fast profile; with --seed 1..10 at ci, torch: 9 of 10 runs)",
    ),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(clauses: tuple[tuple[str, str], ...]) -> str:
    """The audit as Markdown: ``clauses`` are (id, section) pairs in catalogue order; one table row each."""
    lines = [
        "# Reach audit: what each clause's tests draw, and what a framework accepts",
        "",
        "Generated by `blockspec spec --reach` from `conformance/kit/reach.py`; do not edit by hand.",
        "A drawn range `low..high (strategy; reaches b1, b2)` is the strategy's own reach record",
        "(`REACH` in conformance/kit/strategies.py, `MORE_REACH` in conformance/kit/reach_strategies.py),",
        "sampled by tests/kit/test_strategies_reach.py and tests/kit/test_reach.py. A gap says why a draw stops short.",
        "",
        "| Clause | Section | Draws | Quantity: drawn / accepted | Gaps |",
        "|---|---|---|---|---|",
    ]
    for clause_id, section in clauses:
        row = ROWS[clause_id]
        quantities = "<br>".join(f"**{q.name}**: {q.drawn_range()} / {q.accepts}" for q in row.quantities)
        gaps = "<br>".join(f"{q.name}: {q.gap}" for q in row.quantities if q.gap) or "none"
        draws = ", ".join(f"`{d}`" for d in row.draws) or "(no draw)"
        lines.append(f"| {clause_id} | {section} | {draws} | {_cell(quantities)} | {_cell(gaps)} |")
    lines += [
        "",
        "## Regions opened by issue 21, each shown able to hide a fault",
        "",
        "Mutants in tests/mutants/regions.py, bound in torch_mutants.py (torch_cuda_mutants.py for a device region) "
        "and reference_mutants.py.",
        "",
        "| Mutant | Target | Region | Before the widening | After |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {m.name} | {m.target} | {m.region} | {m.before} | {m.after} |" for m in REGION_MUTANTS]
    return "\n".join(lines) + "\n"


def render_chapter() -> str:
    """The audit of the chapter catalogue, as docs/reach.md holds it."""
    from spec import load_catalogue

    return render(tuple((c.id, c.section) for c in load_catalogue().clauses))
