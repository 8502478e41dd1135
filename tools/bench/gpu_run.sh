#!/usr/bin/env bash
# One session on a lent GPU machine, from the repository root, after tools/bench/gpu_prepare.sh here:
# installs the carried wheels, runs the tests that need CUDA and the benches, each under its own time
# limit so one hang cannot eat the lease, and writes the whole output to $OUT/gpu.log.
#     bash tools/bench/gpu_run.sh [part ...]     parts: attention raymap tests full release long
# train (default: the first five). The release part needs .release/ (see README.md) carried along.
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
LOG="$(cd "$OUT" && pwd)/gpu.log"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
if compgen -G ".whl/*.whl" >/dev/null && ! python3 -c "import aether.core" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl >/dev/null || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site
fi
cd tools/bench || exit 1  # the benches import their shared timing module by name

run() {  # run NAME SECONDS COMMAND...: one step, its output appended to the log, its status reported
    local name=$1 limit=$2
    shift 2
    echo "=== $name: $* ($(date -u +%FT%TZ))" | tee -a "$LOG"
    timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$LOG"
    echo "=== $name rc=${PIPESTATUS[0]}" | tee -a "$LOG"
}

parts=${*:-attention raymap tests full release}
{ nvidia-smi -L; git -C ../.. rev-parse HEAD 2>/dev/null; date -u; } 2>&1 | tee -a "$LOG"
python3 -c "import timing, torch; print(timing.describe_device(torch.device('cuda')))" 2>&1 | tee -a "$LOG"
for part in $parts; do
    case $part in
        # the tests that use CUDA (the image has no ffmpeg for the rest of aether-core's)
        tests) run tests 300 python3 -m pytest -q -rs -p no:cacheprovider ../../packages/aether-core/tests/test_kernels_attention.py \
                   ../../packages/aether-core/tests/test_kernels_raymap.py ../../packages/aether-core/tests/test_backbone_model.py \
                   ../../packages/aether-codecs/tests/test_codecs_raymap.py ;;
        attention) run attention-fwd 60 python3 attention.py --dtype bf16 --batch 2 --sweep
                   run attention-fwd-bwd 75 python3 attention.py --dtype bf16 --batch 2 --backward --sweep ;;
        raymap) run raymap 30 python3 raymap.py --batch 2 --frames 41 ;;
        full) run full-model 170 python3 full_model.py ;;
        release) run release 180 python3 release_side_by_side.py --pred-steps 6 --only recon predict ;;
        long) run release-long 330 python3 release_side_by_side.py --only long ;;
        train) run train-step 90 python3 train_step.py --checkpointing ;;
        *) echo "unknown part $part" ;;
    esac
done
grep -h "^RESULT\|^FAILED\|rc=" "$LOG"
