"""Demo stage 3: train a tiny AETHER (pixel codec, small backbone) on the annotated clips within the
time budget, then export it in the released model-folder layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from aether.core.atomic import write_json
from aether.train.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from aether.train.demo.config import DemoConfig
from aether.train.demo.report import plot_curves
from aether.train.runlog import read_log

# A token carries a 2x2 patch of 56 output channels (224 values): a width of 384 leaves room for them
# (128 could not even copy the colour condition through); about 4 steps/s of 4 examples on 2 cores.
BACKBONE = dict(num_layers=4, num_attention_heads=6, attention_head_dim=64, time_embed_dim=64, text_embed_dim=32,
                max_text_seq_length=8)
CALIBRATION_STEPS = 6
PLAN = "plan.json"


def train_config(config: DemoConfig, clips: list[Path], out: Path, steps: int) -> TrainConfig:
    """The training run of the demo: ``steps`` AdamW steps, stopped early by the time budget."""
    h, w = config.height // 8, config.width // 8
    return TrainConfig(
        out=out, seed=config.seed, steps=steps, micro_batch=4, max_minutes=config.minutes, log_every=10,
        checkpoint_every=max(50, steps // 10), keep_last=2, eval_examples=0, progress=config.progress,
        data=DataConfig(clips=clips, frames=[config.frames], fps=[config.fps], height=config.height,
                        width=config.width),
        model=ModelConfig(init="tiny", video_codec="pixel",
                          tiny={**BACKBONE, "sample_height": h, "sample_width": w, "sample_frames": config.frames}),
        # peak lr 2e-3: 1920 steps at 1e-3 / 2e-3 / 3e-3 gave held-out prediction PSNR 18.27 / 18.54 / 18.51 dB
        optim=OptimConfig(lr=2e-3, warmup=0.05, weight_decay=0.0))


def _planned_steps(config: DemoConfig, clips: list[Path], folder: Path) -> int:
    """Steps that fit the budget, from the speed of a few throwaway steps on this machine; kept in
    ``plan.json`` so a resumed run keeps the same schedule."""
    from aether.train.loop import train

    if (folder / PLAN).is_file():
        return int(json.loads((folder / PLAN).read_text())["steps"])
    shutil.rmtree(folder / "calibration", ignore_errors=True)  # throwaway steps an interrupted run began
    probe_config = train_config(config, clips, folder / "calibration", 10_000).model_copy(
        update={"progress": False, "export": False, "max_minutes": None})
    probe = train(probe_config, stop_after=CALIBRATION_STEPS)
    batch = probe_config.micro_batch * probe_config.grad_accum
    # the first steps pay one-off costs (allocation, caches): time the rest
    seconds = float(np.median([batch / record["samples_per_s"] for record in probe.history[2:]]))
    steps = max(20, int(0.9 * config.minutes * 60 / seconds))
    write_json(folder / PLAN, {"steps": steps, "seconds_per_step": seconds})
    return steps


def train_model(config: DemoConfig, clips: list[Path], folder: Path) -> dict[str, Any]:
    """Train (resuming an interrupted run), export ``folder/run/model`` and plot the loss curves;
    returns paths relative to ``folder`` and the first and last losses per task."""
    from aether.train.loop import train

    run = folder / "run"
    result = train(train_config(config, clips, run, _planned_steps(config, clips, folder)), resume=True)
    history: dict[str, list[tuple[int, float]]] = {}
    for record in read_log(run / "log.jsonl"):
        for task, loss in record.get("tasks", {}).items():
            history.setdefault(task, []).append((record["step"], loss))
    plot_curves(folder / "curves.png", history)
    return {"model": str(Path("run") / "model"), "curves": "curves.png", "steps": result.steps_done,
            "finished": result.finished,
            "loss": {task: {"first": points[0][1], "last": points[-1][1]} for task, points in history.items()}}
