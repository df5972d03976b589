#!/usr/bin/env bash
# The real-GPU check behind docs/results/*-cuda.json: run from a checkout on a machine with CUDA,
# with torch, jax[cuda] and flax installed (no install of blockspec needed):
#
#     bash docs/results/run-gpu.sh OUTDIR
#
# It writes the result files and one archive of logs (logs.tar.gz) to OUTDIR, and took
# 2 minutes on one H200 with 16 cores (the torch part; see BLOCKSPEC_GPU_FLAX below for flax).
# Each step has its own time limit; a step that outruns it is killed with its child processes.
set -u
out=$(realpath -m "${1:-gpu-results}")
mkdir -p "$out/logs"
export PYTHONPATH=. PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
begin=$EPOCHREALTIME

step() {  # step NAME LIMIT_S COMMAND...: run, log, and note the exit status and wall time
    local name=$1 limit=$2 start=$EPOCHREALTIME
    shift 2
    timeout "$limit" "$@" >"$out/logs/$name.log" 2>&1
    local rc=$?
    printf '%-28s rc=%-3s %6.1f s  (%s)\n' "$name" "$rc" "$(awk "BEGIN { print $EPOCHREALTIME - $start }")" "$*" |
        tee -a "$out/logs/steps.txt"
}

{
    nvidia-smi -L
    python3 -c 'import sys, torch, jax, flax, hypothesis, numpy
print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
print("jax", jax.__version__, jax.devices(), "flax", flax.__version__, "hypothesis", hypothesis.__version__, "numpy", numpy.__version__)
print("tf32 matmul", torch.backends.cuda.matmul.allow_tf32, "jax precision", jax.config.jax_default_matmul_precision)'
    nproc
} >"$out/logs/env.txt" 2>&1

dev_clauses=$(grep -h '^id = "DEV-' spec/clauses/4.5-gpus.toml | sed 's/id = "\(.*\)"/--clause \1/')

# The torch runs and the TF32 check beside the kill matrix (16 cores: 12 mutants at a time + 3).
step torch-cuda 150 python3 -m conformance run --backend torch --device cuda:0 --json "$out/torch-cuda.json" \
    --quiet &
step torch-cpu-beside-cuda 150 python3 -m conformance run --backend torch --json "$out/torch-cpu.json" --quiet &
# The parity clause is meant to catch TF32 left on: force it on in cuBLAS and expect DEV-PARITY to fail.
TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 step torch-tf32-parity 90 python3 -m conformance run --backend torch \
    --clause DEV-PARITY --in-process --verbose &
# Every torch mutant, the CUDA-only ones included, with a real accelerator present.
step kill-matrix-torch 280 python3 -m conformance kill-matrix tests.mutants.torch_mutants \
    tests.mutants.torch_cuda_mutants -j 12 --json "$out/kill-matrix-torch-cuda.json"
wait

# Flax on the GPU only when asked (BLOCKSPEC_GPU_FLAX=1): JAX compiles every new shape, and on an
# H200 the 19 device clauses alone outran 150 s at the ci profile. The parity clause runs again with
# JAX's float32 matmul precision at "highest" (its GPU default may use TF32).
if [[ ${BLOCKSPEC_GPU_FLAX:-0} == 1 ]]; then
    # shellcheck disable=SC2086
    step flax-cuda-devices 600 python3 -m conformance run --backend flax --device cuda:0 $dev_clauses \
        --json "$out/flax-cuda-devices.json" --quiet
    JAX_DEFAULT_MATMUL_PRECISION=highest step flax-parity-highest 300 python3 -m conformance run \
        --backend flax --device cuda:0 --clause DEV-PARITY --in-process --verbose
fi

printf 'total %.1f s\n' "$(awk "BEGIN { print $EPOCHREALTIME - $begin }")" | tee -a "$out/logs/steps.txt"
tar -czf "$out/logs.tar.gz" -C "$out" logs && rm -r "$out/logs"
