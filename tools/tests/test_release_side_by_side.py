"""tools/bench/release_side_by_side.py: a setup failure still ends on a RESULT line with exit status 1,
and ``--tiny`` runs every part of both pipelines on the CPU where the release's code has been extracted
to ``.release/`` (never committed, so a clean checkout skips that test)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "bench" / "release_side_by_side.py"
RELEASE = REPO / ".release"


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def test_missing_release_fails_cleanly(tmp_path):
    proc = _run("--tiny", "--release-dir", str(tmp_path / "absent"), timeout=300)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert any(line.startswith("FAILED setup: FileNotFoundError") for line in lines), proc.stdout
    assert lines[-1].startswith("RESULT name=release_side_by_side device=CPU ratio=nan"), proc.stdout


def test_unknown_part_is_refused():
    proc = _run("--only", "recon,nope", timeout=300)
    assert proc.returncode == 2 and "unknown part(s) nope" in proc.stderr


@pytest.mark.slow
def test_tiny_runs_both_pipelines():
    if not (RELEASE / "aether" / "pipelines" / "aetherv1_pipeline_cogvideox.py").is_file():
        pytest.skip("the release's code is not extracted to .release/ (see tools/bench/README.md)")
    pytest.importorskip("transformers")
    pytest.importorskip("einops")
    proc = _run("--tiny", "--device", "cpu", timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("RESULT "), proc.stdout
    names = {line.split()[1] for line in lines if line.startswith("RESULT ")}
    assert names == {"name=release_recon_17f", "name=release_predict_17f_3steps", "name=release_long_25f"}
    assert sum(line.startswith("  ours vs release outputs: disparity") for line in lines) == 2
