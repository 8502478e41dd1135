"""The full-size bench's code paths on the tiny config (CPU): every part prints finite RESULT lines, a
failing part is reported and the others still run. Timings are never asserted."""

import math
import re
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
RESULT = re.compile(r"^RESULT name=(\S+) device=(\S+) value=(\S+) memory=(\S+)(?: ratio=(\S+))?$")


@pytest.fixture(scope="module")
def full_model():
    sys.path.insert(0, str(BENCH))  # the bench scripts import their shared helpers by bare name
    threads = torch.get_num_threads()  # --threads 1 below: quick on a busy 2-core machine
    try:
        import full_model
        yield full_model
    finally:
        sys.path.remove(str(BENCH))
        torch.set_num_threads(threads)


def _results(out: str) -> dict[str, tuple[float, ...]]:
    found = {}
    for line in out.splitlines():
        if line.startswith("RESULT"):
            match = RESULT.match(line)
            assert match, f"malformed: {line}"
            found[match[1]] = tuple(float(v) for v in match.groups()[2:] if v is not None)
    return found


def test_every_part_prints_finite_results(full_model, capsys):
    code = full_model.main(["--tiny", "--attention", "sdpa", "--repeat", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("RESULT name=total ")
    results = _results(out)
    for name in ("step.sdpa", "cfg.sdpa", "train.optimizer", "train.fwd_bwd.sdpa", "train.step.sdpa",
                 "vae.encode", "vae.decode", "lever.resident", "lever.fp8_storage", "total"):
        assert name in results, out
    assert all(math.isfinite(v) and v >= 0 for values in results.values() for v in values)
    assert "FAILED" not in out


def test_a_failing_part_is_reported_and_the_rest_runs(full_model, capsys, monkeypatch):
    def broken(bench):
        raise RuntimeError("boom\nsecond line")
    monkeypatch.setitem(full_model.RUN, "step", broken)
    code = full_model.main(["--tiny", "--attention", "sdpa", "--repeat", "1", "--threads", "1",
                            "--only", "step", "cfg"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED step: RuntimeError: boom second line" in captured.out
    assert "Traceback" in captured.err
    assert "cfg.sdpa" in _results(captured.out)
    assert captured.out.strip().splitlines()[-1].startswith("RESULT name=total ")


def test_pure_bf16_training_step(full_model, capsys):
    code = full_model.main(["--tiny", "--attention", "sdpa", "--repeat", "1", "--threads", "1",
                            "--only", "train", "--train-precision", "bf16"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bf16 weights, gradients and AdamW state" in out
    assert {"train.optimizer", "train.fwd_bwd.sdpa", "train.step.sdpa"} <= set(_results(out))
