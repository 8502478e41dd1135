"""aether-annotate runs on NumPy, SciPy and OpenCV alone: neither the CLI nor a ``--workers N`` worker imports
torch (a second or more of start-up per worker), and each worker's BLAS uses one thread."""

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

from aether.annotate.batch import WORKER_THREAD_VARIABLES, one_thread_per_worker

# What `aether annotate` loads: the CLI (a spawned worker re-imports it as its main module), the command,
# the pipeline and the batch module whose functions the workers run, and the stages' NumPy-only codec helpers.
MODULES = ("aether.core.cli", "aether.annotate.commands", "aether.annotate.pipeline", "aether.annotate.batch",
           "aether.annotate.stages.intrinsics", "aether.codecs.trajectory", "aether.codecs.cameras")


def test_annotation_modules_do_not_import_torch():
    code = f"import sys; import {', '.join(MODULES)}; print(sorted(m for m in sys.modules if m.startswith('torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_workers_spawned_in_the_block_use_one_blas_thread(monkeypatch):
    for name in WORKER_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # a user's own choice is kept
    with one_thread_per_worker(), ProcessPoolExecutor(1, multiprocessing.get_context("spawn")) as pool:
        seen = {name: pool.submit(os.getenv, name).result() for name in WORKER_THREAD_VARIABLES}
    assert seen == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "3"}
    # the parent's environment is as it was
    assert [os.environ.get(name) for name in WORKER_THREAD_VARIABLES] == [None, None, "3"]
