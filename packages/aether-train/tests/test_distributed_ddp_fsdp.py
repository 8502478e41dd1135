"""2 processes on CPU (gloo) under torchrun give the parameters (and EMA) of 1 process with the
same global batch: DDP, and FSDP2 (fully_shard per transformer block)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from aether.train import checkpoint as ckpt
from aether.train.config import dump_config
from aether.train.loop import train

STEPS = 4
AETHER = Path(sys.executable).with_name("aether")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def single(clips, tiny_config, tmp_path_factory):
    config = tiny_config(clips, tmp_path_factory.mktemp("single") / "run", steps=STEPS, micro_batch=4,
                         eval_examples=0, export=False, ema_decay=0.5)
    done = train(config).checkpoint
    return {"model": ckpt.load_weights(done), "ema": ckpt.load_weights(done, ema=True)}


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(single, clips, tiny_config, tmp_path, strategy):
    """Global batch 4 = 2 processes x 1 example x 2 accumulated micro-batches (the first skips the
    gradient sync). Hybrid FSDP (``distributed.hybrid``) is left out to keep the suite fast."""
    config = tiny_config(clips, tmp_path / "run", steps=STEPS, micro_batch=1, grad_accum=2, eval_examples=0,
                         export=False, ema_decay=0.5, distributed={"strategy": strategy})
    (tmp_path / "config.yaml").write_text(dump_config(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # its own session, so a hang kills torchrun's workers too instead of leaving them behind
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                                 "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), str(AETHER),
                                 "train", str(tmp_path / "config.yaml")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        _, stderr = launcher.communicate()
        pytest.fail(f"{strategy} run did not finish in 120 s: {stderr[-3000:]}")
    assert launcher.returncode == 0, stderr[-3000:]
    for kind in ("model", "ema"):
        trained = ckpt.load_weights(ckpt.checkpoint_dir(config.out, STEPS), ema=kind == "ema")
        assert trained.keys() == single[kind].keys()
        for name, value in single[kind].items():
            torch.testing.assert_close(trained[name], value, rtol=1e-4, atol=2e-5, msg=f"{kind} {name}")
