"""The tiny CPU run: 200 steps lower every task's loss, a run stopped at step 100 and resumed
gives the same losses, the exported folder loads in the tasks pipeline, the time budget and
stage 2, EMA and the latent cache work."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from aether.core.cli import main
from aether.core.model_folder import ModelFolder
from aether.tasks.pipeline import AetherPipeline
from aether.tasks.sampling import SamplingConfig
from aether.train import checkpoint as ckpt
from aether.train.config import dump_config
from aether.train.loop import train
from aether.train.runlog import read_log


@pytest.fixture(scope="module")
def full_run(clips, tiny_config, tmp_path_factory):
    return train(tiny_config(clips, tmp_path_factory.mktemp("full") / "run"))


def test_200_steps_lower_every_tasks_loss(full_run):
    start, end = full_run.evals[0], full_run.evals[200]
    assert set(start) == {"planning", "prediction", "reconstruction", "unconditional"}
    for task in start:
        assert end[task] < 0.6 * start[task], (task, start[task], end[task])
    assert full_run.finished and len(full_run.history) == 200
    record = full_run.history[-1]
    assert record["samples_per_s"] > 0 and record["tokens_per_s"] > 0 and "latent" in record["terms"]


def test_stopped_at_100_and_resumed_gives_the_same_losses(full_run, clips, tiny_config, tmp_path):
    config = tiny_config(clips, tmp_path / "run")
    first = train(config, stop_after=100)
    assert first.steps_done == 100 and not first.finished and first.model_dir is None
    assert first.checkpoint == ckpt.checkpoint_dir(config.out, 100)
    resumed = train(config, resume=True)
    assert [r["step"] for r in resumed.history] == list(range(100, 200))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full_run.history[100:]]
    assert [r["tasks"] for r in resumed.history] == [r["tasks"] for r in full_run.history[100:]]
    assert resumed.evals[200] == full_run.evals[200]
    log = [r for r in read_log(config.out / "log.jsonl") if "loss" in r]
    assert [r["step"] for r in log] == list(range(200))          # one uninterrupted log
    assert [p.name for p in ckpt.list_checkpoints(config.out)] == ["step_00000100", "step_00000150",
                                                                   "step_00000200"]


def test_export_loads_in_the_pipeline_and_runs(full_run, tmp_path):
    pipe = AetherPipeline.from_pretrained(full_run.model_dir, device="cpu")
    assert (pipe.height, pipe.width) == (32, 48)  # the tiny config's frames
    assert json.loads((full_run.model_dir / "aether.json").read_text())["video_codec"] == "pixel"
    frames = np.random.default_rng(0).integers(0, 255, (9, pipe.height, pipe.width, 3), dtype=np.uint8)
    result = pipe.reconstruct(frames, fps=12.0, config=SamplingConfig(steps=2, progress=False))
    assert result.depth.shape == (9, pipe.height, pipe.width) and np.isfinite(result.c2w).all()
    trained = ckpt.load_weights(full_run.checkpoint)
    loaded = pipe.backbone.state_dict()
    assert all(torch.equal(trained[k], loaded[k]) for k in trained)


def test_export_command_writes_a_model_folder(full_run, tmp_path):
    assert main(["train", "export", str(full_run.run_dir), str(tmp_path / "model")]) == 0
    assert ModelFolder(tmp_path / "model").settings.video_codec == "pixel"


def test_time_budget_stops_cleanly_with_a_checkpoint(clips, tiny_config, tmp_path):
    result = train(tiny_config(clips, tmp_path / "run", max_minutes=1e-6, eval_examples=0))
    assert result.steps_done == 1 and not result.finished
    assert result.checkpoint == ckpt.checkpoint_dir(tmp_path / "run", 1)
    assert (result.model_dir / "transformer" / "config.json").is_file()


def test_stage_two_with_ema_and_accumulation(clips, tiny_config, tmp_path):
    config = tiny_config(clips, tmp_path / "run", steps=3, micro_batch=2, grad_accum=2, ema_decay=0.9,
                         eval_examples=0, export=False, loss={"stage": 2})
    result = train(config)
    terms = result.history[-1]["terms"]
    assert set(terms) == {"latent", "ms_ssim", "depth", "pointmap"}
    assert all(np.isfinite(v) and v >= 0 for v in terms.values())
    raw, ema = ckpt.load_weights(result.checkpoint), ckpt.load_weights(result.checkpoint, ema=True)
    assert raw.keys() == ema.keys() and any(not torch.equal(raw[k], ema[k]) for k in raw)


def test_cached_posteriors_match_the_online_codec(clips, tiny_config, tmp_path):
    from aether.codecs.video import PixelCodec
    from aether.train.cache import CachedWindows

    config = tiny_config(clips, tmp_path / "run", steps=2, eval_examples=0, export=False,
                         data={"cache": str(tmp_path / "cache"), "cache_windows": 2})
    (tmp_path / "config.yaml").write_text(dump_config(config))
    orphan = tmp_path / "cache" / ".clip_0.abcd1234.tmp.safetensors"  # what a killed earlier run was writing
    orphan.parent.mkdir()
    orphan.write_bytes(b"half")
    assert main(["train", "cache", str(tmp_path / "config.yaml")]) == 0
    assert not orphan.exists()
    example = CachedWindows(config, 4)[(0, 0)]
    codec = PixelCodec()
    video = example["video"][None]
    assert torch.allclose(example["colour_posterior"], codec.posterior(video)[0], atol=1e-6)
    assert torch.allclose(example["depth_posterior"], codec.posterior(example["depth_video"][None])[0], atol=1e-6)
    # the observation and goal images, each encoded on its own as prediction and planning observe them
    assert example["image_frames"].tolist() == [0, 8]
    for k, frame in enumerate((0, 8)):
        alone = codec.posterior(video[:, frame:frame + 1])[0]
        assert torch.allclose(example["image_posteriors"][k:k + 1], alone, atol=1e-6)
    assert train(config).finished


def test_activation_checkpointing_changes_memory_not_losses(clips, tiny_config, tmp_path):
    def losses(checkpointing: bool) -> list[float]:
        config = tiny_config(clips, tmp_path / str(checkpointing), steps=3, eval_examples=0, export=False,
                             model={"activation_checkpointing": checkpointing})
        return [r["loss"] for r in train(config).history]

    assert losses(True) == pytest.approx(losses(False), rel=1e-5)


def test_worker_processes_give_the_same_examples(clips, tiny_config, tmp_path):
    def losses(workers: int) -> list[float]:
        config = tiny_config(clips, tmp_path / str(workers), steps=3, eval_examples=0, export=False,
                             data={"num_workers": workers})
        return [r["loss"] for r in train(config).history]

    assert losses(2) == losses(0)
