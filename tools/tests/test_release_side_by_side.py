"""tools/bench/release_side_by_side.py: a setup failure still ends on a RESULT line with exit status 1,
and ``--tiny`` runs every part of both pipelines on the CPU where the release's code has been extracted
to ``.release/`` (never committed, so a clean checkout skips that test)."""

import re
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
    assert names == {"name=release_recon_17f", "name=release_predict_17f_3steps", "name=release_long_25f",
                     "name=latent_shortcut_predict_17f_3steps"}
    compared = [line for line in lines if line.startswith("  ours vs release outputs: disparity")]
    assert len(compared) == 2
    for line in compared:  # same seed, same latents: the cameras agree exactly; the disparity to the release's
        # bf16 rounding of its post-processing (ours is float32), the colour to our uint8 rounding
        disparity, rgb = (float(x) for x in re.findall(r"(?:disparity|rgb)[^|]*? max\|d\| ([0-9.e-]+)", line))
        assert disparity < 0.005 and "rotation max 0 deg, centre max|d| 0, focal max rel 0" in line, line
        assert "input frames" in line or rgb <= 0.5 / 255 + 1e-6, line
