#!/usr/bin/env bash
# Run here (no GPU needed) before tools/bench/gpu_run.sh goes to a lent GPU machine that has torch and
# triton but no network: puts into .whl/ (git-ignored) our five packages as wheels and the wheels of
# what they need that such a machine's image lacks (Python 3.12, x86-64), xformers included.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
mkdir -p .whl
rm -f .whl/aether_*.whl
for p in core codecs annotate tasks train; do
    "$PY" -m pip wheel -q --no-deps --no-build-isolation -w .whl "packages/aether-$p"
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    diffusers==0.42.1 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
    typing_extensions==4.16.0 importlib_metadata==10.2.0 lazy-importer==0.1.0 trimesh==5.2.0 pytorch-msssim==1.0.0 \
    xformers==0.0.35
du -sh .whl
