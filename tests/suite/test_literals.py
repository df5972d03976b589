"""No fixed sizes in the suite (issue 21): literal shapes and dtypes in test bodies are flagged.

A suite test that calls with a batch of 2 in float32 never meets the
framework whose fault needs a batch of 1 or float64. An AST scan of every
``test_*`` function in conformance/suite (its decorators included) finds
tuples holding an integer literal (a shape, or a shape with a fixed
dimension), dtype names written as strings, and NumPy dtype attributes
(``np.float32``). Each one left must be in :data:`ALLOWED`, which says why;
an entry matching nothing any more is stale and fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance" / "suite"

DTYPE_NAMES = {
    "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "complex64",
}  # fmt: skip


#: Why each literal left is fixed, by (file, test function, literal as ast.unparse writes it).
_CHAPTER_WIDTH = "the chapter's block fixes it: MLP and FixedHiddenMLP take 20 inputs (their batch is drawn)"
_CHAPTER_DTYPE = "the chapter's blocks are built in the framework's default dtype, float32"
_ORACLE = "np.float64 is the oracle's working precision for comparing, not an input's dtype"
_DEVICE = (
    "a device clause whose tensor is incidental: its placement is checked, not its dtype or shape; the device "
    "clauses that speak of a tensor's dtype and shape (DEV-TENSOR-PLACEMENT, DEV-MIXED-RAISES, DEV-COPY-ROUNDTRIP, "
    "DEV-CHECKPOINT-HOME) draw every declared dtype and shape (raw_arrays)"
)
_PLAIN = "a plain tensor told apart from a Parameter: its size and dtype are not what the clause speaks of"
_TIED_NET = "the chapter's tied_net shares layers 2 and 4: positions, not a shape"
_TIED_WIDTH = "the chapter's tied_net takes 4 inputs (its batch is drawn)"
_BUILDING_CALL = (
    "the one call that builds the chapter's tied_net (4 inputs, its default dtype) before its checkpoint is "
    "saved or loaded (Keras saves and loads built models only): its output is never checked"
)
_IO_DTYPES = "the two dtypes (one float, one integer) damaged files are drawn in: the parser, not the dtype, is checked"
_CHAPTER_LIST = "the chapter's own x = arange(4), y = zeros(4), saved as a list and a dict; drawn containers elsewhere"

ALLOWED: dict[tuple[str, str, str], str] = {
    ("test_custom_layers.py", "test_centered_output_has_mean_zero", "np.float64"): _ORACLE,
    ("test_custom_layers.py", "test_centered_in_a_sequential", "np.float64"): _ORACLE,
    ("test_file_io.py", "test_chapter_clone", "(batch, 20)"): _CHAPTER_WIDTH,
    ("test_file_io.py", "test_chapter_clone", "'float32'"): _CHAPTER_DTYPE,
    ("test_file_io.py", "test_chapter_list_and_dict", "np.float32"): _CHAPTER_LIST,
    ("test_file_io.py", "test_damaged_files_do_not_load", "'float32'"): _IO_DTYPES,
    ("test_file_io.py", "test_damaged_files_do_not_load", "'int64'"): _IO_DTYPES,
    ("test_file_io.py", "test_ties_survive_save_and_load", "(2, 4)"): _TIED_NET,
    ("test_file_io.py", "test_ties_survive_save_and_load", "(batch, 4)"): _TIED_WIDTH,
    ("test_file_io.py", "test_ties_survive_save_and_load", "np.float32"): _BUILDING_CALL,
    ("test_gpus.py", "test_copy_to_second_accelerator", "np.float32"): _DEVICE,
    ("test_gpus.py", "test_cpu_and_accelerator_agree", "'float32'"): _DEVICE,
    ("test_gpus.py", "test_device_count", "np.float32"): _DEVICE,
    ("test_gpus.py", "test_fixed_hidden_mlp_runs_on_device", "'float32'"): _CHAPTER_DTYPE,
    ("test_gpus.py", "test_fixed_hidden_mlp_runs_on_device", "(batch, 20)"): _CHAPTER_WIDTH,
    ("test_gpus.py", "test_gradients_on_parameter_device", "np.float32"): _DEVICE,
    ("test_gpus.py", "test_tensors_default_to_cpu", "np.float32"): _DEVICE,
    ("test_gpus.py", "test_unindexed_accelerator_is_index_zero", "np.float32"): _DEVICE,
    ("test_gpus.py", "test_zero_dim_cpu_tensor_is_a_scalar", "np.float32"): _DEVICE,
    ("test_layers_and_blocks.py", "test_chapter_mlp_forward_value", "'float32'"): _CHAPTER_DTYPE,
    ("test_layers_and_blocks.py", "test_chapter_mlp_forward_value", "(batch, 20)"): _CHAPTER_WIDTH,
    ("test_layers_and_blocks.py", "test_constant_is_state_not_parameter", "'float32'"): _CHAPTER_DTYPE,
    ("test_layers_and_blocks.py", "test_constant_is_state_not_parameter", "np.float32"): _CHAPTER_DTYPE,
    ("test_layers_and_blocks.py", "test_constant_is_state_not_parameter", "(20, 20)"): _CHAPTER_WIDTH,
    ("test_layers_and_blocks.py", "test_constant_is_state_not_parameter", "(20,)"): _CHAPTER_WIDTH,
    ("test_layers_and_blocks.py", "test_constant_is_state_not_parameter", "(batch, 20)"): _CHAPTER_WIDTH,
    ("test_layers_and_blocks.py", "test_fixed_hidden_mlp_runs_its_code", "'float32'"): _CHAPTER_DTYPE,
    ("test_layers_and_blocks.py", "test_fixed_hidden_mlp_runs_its_code", "(batch, 20)"): _CHAPTER_WIDTH,
    ("test_layers_and_blocks.py", "test_reused_layer_gradients_add", "'float32'"): _CHAPTER_DTYPE,
    ("test_layers_and_blocks.py", "test_reused_layer_gradients_add", "np.float32"): _CHAPTER_DTYPE,
    ("test_layers_and_blocks.py", "test_reused_layer_gradients_add", "(batch, 20)"): _CHAPTER_WIDTH,
    ("test_parameter_management.py", "test_parameters_have_the_parameter_type", "np.float32"): _PLAIN,
    ("test_parameter_management.py", "test_uniform_init", "np.float64"): _ORACLE,
    ("test_parameter_management.py", "test_xavier_uniform_init", "np.float64"): _ORACLE,
    ("test_parameter_management.py", "test_xavier_uniform_init", "np.float32"): (
        "float32's epsilon: the slack of the bound for the default dtype the layer is built in"
    ),
    ("test_parameter_management.py", "test_my_init", "np.float64"): _ORACLE,
}


def literals(path: Path) -> set[tuple[str, str, str]]:
    """(file, test function, literal as written) for every fixed shape or dtype in the test functions of ``path``."""
    text = path.read_text(encoding="utf-8")
    found: set[tuple[str, str, str]] = set()
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        indices = {id(sub.slice) for sub in ast.walk(node) if isinstance(sub, ast.Subscript)}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Tuple) and id(sub) not in indices:
                if any(isinstance(e, ast.Constant) and type(e.value) is int for e in sub.elts):
                    found.add((path.name, node.name, ast.unparse(sub)))
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in DTYPE_NAMES:
                found.add((path.name, node.name, repr(sub.value)))
            elif isinstance(sub, ast.Attribute) and sub.attr in DTYPE_NAMES and isinstance(sub.value, ast.Name):
                found.add((path.name, node.name, ast.unparse(sub)))
    return found


def suite_literals() -> set[tuple[str, str, str]]:
    return {hit for path in sorted(SUITE.glob("test_*.py")) for hit in literals(path)}


def test_no_literal_shape_or_dtype_without_a_reason() -> None:
    unexplained = sorted(suite_literals() - set(ALLOWED))
    assert not unexplained, (
        f"observed fixed shapes or dtypes in suite tests: {unexplained}; expected each drawn from a strategy "
        "(conformance.kit.strategies, reach_strategies) or listed in ALLOWED with why"
    )


def test_every_allowance_still_matches_a_literal() -> None:
    stale = sorted(set(ALLOWED) - suite_literals())
    assert not stale, f"observed allowances matching no literal any more: {stale}; expected them removed"


def test_the_scan_finds_what_it_must(tmp_path: Path) -> None:
    """The scan itself can fail: a fixed batch, a dtype string and np.float32 in a test body are all found."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import numpy as np\n"
        "def test_x(backend):\n"
        "    a = np.ones((2, width), dtype=np.float32)\n"
        "    b = cast(a, 'float64')\n"
        "    return a[0, 0], b\n"
        "def helper():\n"
        "    return (2, 3)\n",
        encoding="utf-8",
    )
    found = {literal for _, _, literal in literals(probe)}
    assert found == {"(2, width)", "np.float32", "'float64'"}, (
        f"observed {sorted(found)}; expected the shape, both dtypes, and no index or helper literal"
    )
