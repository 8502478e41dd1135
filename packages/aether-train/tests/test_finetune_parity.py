"""Fine-tuning parity: for the same clip and task, the transformer input the trainer builds equals the one the
inference pipeline builds, channel by channel, captured at the backbone with noise and timestep held equal.
The model folder is written by diffusers' own classes (a tiny CogVideoX transformer and VAE), so the colour
conditions go through a real causal VAE whose one-frame encodes differ from the clip's latents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from aether.core.backbone import AetherBackbone
from aether.core.testing.tiny_model import write_tiny_model
from aether.tasks.pipeline import AetherPipeline
from aether.tasks.sampling import SamplingConfig
from aether.train import loop
from aether.train.conditions import TaskDraw
from aether.train.data import collate
from aether.train.distributed import Dist
from aether.train.sampler import posterior_seeds

KEY = (7, 0)          # the example's (step, slot)
FIRST_TIMESTEP = 999  # the pipeline's first step; zero terminal SNR makes the noisy latent pure noise there


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny folder in the released layout for the tiny config's 32 x 48 frames, written by diffusers (VAE
    configured for twice the frame size)."""
    return write_tiny_model(tmp_path_factory.mktemp("model"))


class _Captured(Exception):
    """Stops a run at its first transformer call, once the input is recorded."""


def _first_input(monkeypatch, run) -> dict[str, torch.Tensor]:
    """What ``run()`` gives the transformer first: latent, timestep, fps and prompt."""
    seen = {}

    def capture(self, latent, timestep, fps, prompt_embeds):
        seen.update(latent=latent.detach().clone(), timestep=timestep.clone(), fps=torch.tensor(fps),
                    prompt=prompt_embeds.detach().clone())
        raise _Captured

    with monkeypatch.context() as patch:
        patch.setattr(AetherBackbone, "_forward", capture)
        with pytest.raises(_Captured):
            run()
    return seen


def _inference(pipe: AetherPipeline, task: str, frames: np.ndarray, action: torch.Tensor, config: SamplingConfig):
    """The pipeline's entry point for ``task`` on a window's frames ``(F, H, W, 3)``."""
    return {"reconstruction": lambda: pipe.reconstruct(frames, fps=12.0, config=config),
            "prediction": lambda: pipe.predict(frames[0], fps=12.0, action=action, config=config),
            "planning": lambda: pipe.plan(frames[0], frames[-1], fps=12.0, action=action, config=config),
            "unconditional": lambda: pipe.sample("unconditional", None, action.shape[1], 12.0, action, config)}[task]


@pytest.mark.parametrize("posterior", ["sample", "mode"])
@pytest.mark.parametrize("task", ["reconstruction", "prediction", "planning", "unconditional"])
def test_trainer_feeds_the_model_what_inference_feeds_it(clips, tiny_config, model_dir, tmp_path, monkeypatch, task,
                                                           posterior):
    config = tiny_config(clips, tmp_path / "run", eval_examples=0,
                         data={"fps": [12], "posterior": posterior},
                         model={"init": str(model_dir), "video_codec": "cogvideox", "tiny": {}})
    trainer = loop._Trainer(config, Dist())
    batch = collate([trainer.dataset[KEY]])
    frames = ((batch["video"][0].permute(0, 2, 3, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    pipe = AetherPipeline.from_pretrained(model_dir, device="cpu")
    # the example's condition seed makes a pass draw its posterior samples; the mode needs no seed
    seed = posterior_seeds(config.seed, *KEY)[0] if posterior == "sample" else 123
    sampling = SamplingConfig(seed=seed, guidance=1.0, posterior=posterior, progress=False)  # one branch
    expected = _first_input(monkeypatch, _inference(pipe, task, frames, batch["action"], sampling))

    real_inputs = loop.model_inputs

    def held(*args, **kwargs):  # the pipeline's noise and first timestep, everything else the trainer's own
        inputs = real_inputs(*args, **kwargs)
        inputs.noise = expected["latent"][:, :, :56].clone()
        inputs.timesteps = torch.full_like(inputs.timesteps, FIRST_TIMESTEP)
        return inputs

    monkeypatch.setattr(loop, "model_inputs", held)
    # inference gives reconstruction no action; the other tasks get the window's own trajectory
    draw = TaskDraw(task, keep_action=task != "reconstruction")
    got = _first_input(monkeypatch, lambda: trainer.losses(batch, [draw]))

    assert int(expected["timestep"]) == FIRST_TIMESTEP and torch.equal(got["timestep"], expected["timestep"])
    assert float(got["fps"]) == float(expected["fps"]) == 12.0
    assert torch.equal(got["prompt"], expected["prompt"])
    assert got["latent"].shape == expected["latent"].shape == (1, 3, 96, 4, 6)  # 32 x 48 frames
    for channel in range(96):
        torch.testing.assert_close(got["latent"][:, :, channel], expected["latent"][:, :, channel], rtol=1e-5,
                                   atol=1e-5, msg=lambda m: f"{task}, channel {channel}: {m}")
    colour = expected["latent"][0, :, 56:72]
    observed = {"reconstruction": [0, 1, 2], "prediction": [0], "planning": [0, 2], "unconditional": []}[task]
    assert [t for t in range(3) if colour[t].abs().sum() > 0] == observed
