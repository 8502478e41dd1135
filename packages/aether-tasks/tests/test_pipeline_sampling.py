"""The denoising loop: dynamic CFG weights, CFG combination, v-prediction x0 recovery, seeds."""

import math

import pytest
import torch

from aether.core.testing.tiny_model import SCHEDULER_CONFIG
from aether.tasks.sampling import SamplingConfig, denoise, dynamic_guidance, make_scheduler

SHAPE = (1, 3, 56, 2, 3)


def x0_denoiser(scheduler, target):
    """A model whose v-prediction always implies the clean sample ``target``:
    v = (sqrt(a) x - x0) / sqrt(1 - a), since x0 = sqrt(a) x - sqrt(1 - a) v."""
    def denoiser(x, t):
        alpha = scheduler.alphas_cumprod[int(t[0])].float()
        return (alpha.sqrt() * x[:, :, :56] - target) / (1 - alpha).sqrt()
    return denoiser


def test_dynamic_guidance_hand_values():
    # N = 50: t = N gives (0)^5 -> cos 0 = 1 -> weight 1; t = 0 gives 1^5 -> cos(pi) = -1 -> 1 + w
    assert dynamic_guidance(3.0, 50, 50) == 1.0
    assert dynamic_guidance(3.0, 0, 50) == pytest.approx(4.0)
    assert dynamic_guidance(3.0, 25, 50) == pytest.approx(1 + 3 * (1 - math.cos(math.pi / 32)) / 2)
    # released convention: t is the training timestep, so (N - t) / N = -18.98 at t = 999
    released = 1 + 1.5 * (1 - math.cos(math.pi * (-949 / 50) ** 5))
    assert dynamic_guidance(3.0, 999, 50) == pytest.approx(released)


def test_resolved_config_takes_masking_defaults():
    from aether.core.registry import default_registry

    prediction = default_registry().build("task_masking", "prediction")
    assert SamplingConfig().resolved(prediction).model_dump(include={"steps", "guidance", "dynamic_cfg"}) == \
        {"steps": 50, "guidance": 3.0, "dynamic_cfg": True}
    assert SamplingConfig(steps=7, guidance=0.0).resolved(prediction).steps == 7
    with pytest.raises(ValueError):
        SamplingConfig(steps=0)


@pytest.mark.parametrize("kind", ["dpm", "ddim"])
def test_v_prediction_of_a_known_x0_samples_that_x0(kind):
    scheduler = make_scheduler(SCHEDULER_CONFIG, kind)
    target = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    config = SamplingConfig(steps=4, guidance=1.0, dynamic_cfg=False, scheduler=kind, progress=False)
    out = denoise(x0_denoiser(scheduler, target), torch.zeros(1, 3, 40, 2, 3), scheduler, config)
    torch.testing.assert_close(out, target, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dynamic", [False, True])
def test_cfg_combines_uncond_first_with_the_dynamic_weight(monkeypatch, dynamic):
    scheduler = make_scheduler(SCHEDULER_CONFIG, "ddim")
    cond = torch.ones(1, 3, 40, 2, 3)
    uncond = torch.zeros_like(cond)
    seen_inputs, guided = [], []

    def denoiser(x, t):  # output = 2 for the conditional branch, 1 for the unconditional one
        seen_inputs.append(x[:, :, 56:].clone())
        return 1.0 + x[:, :, 56:57].mean(dim=(1, 2, 3, 4), keepdim=True).expand(-1, *SHAPE[1:])

    step = scheduler.step

    def recording_step(out, t, x, **kwargs):
        guided.append((int(t), out))
        return step(out, t, x, **kwargs)

    monkeypatch.setattr(scheduler, "step", recording_step)
    config = SamplingConfig(steps=3, guidance=3.0, dynamic_cfg=dynamic, scheduler="ddim", progress=False)
    denoise(denoiser, cond, scheduler, config, uncond_condition=uncond)
    assert torch.equal(seen_inputs[0][0], uncond[0]) and torch.equal(seen_inputs[0][1], cond[0])
    for t, out in guided:  # uncond + w (cond - uncond) = 1 + w
        weight = dynamic_guidance(3.0, t, 3) if dynamic else 3.0
        torch.testing.assert_close(out, torch.full(SHAPE, 1.0 + weight))


def test_seed_fixes_the_sample():
    scheduler = make_scheduler(SCHEDULER_CONFIG, "dpm")
    config = SamplingConfig(steps=2, guidance=1.0, dynamic_cfg=False, progress=False)
    zero = lambda x, t: torch.zeros(x.shape[0], *SHAPE[1:])  # noqa: E731
    cond = torch.zeros(1, 3, 40, 2, 3)
    a, b = denoise(zero, cond, scheduler, config), denoise(zero, cond, scheduler, config)
    c = denoise(zero, cond, scheduler, config.model_copy(update={"seed": 1}))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def release_loop(denoiser, condition, steps, seed, held):
    """The release's DPM loop (docs/FORMATS.md#around-the-model): noise drawn and latents kept in ``held`` between
    steps."""
    scheduler = make_scheduler(SCHEDULER_CONFIG, "dpm")
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(SHAPE, generator=generator, dtype=held) * scheduler.init_noise_sigma
    old, timesteps = None, scheduler.timesteps
    for i, t in enumerate(timesteps):
        pred = denoiser(torch.cat([latents.bfloat16(), condition.bfloat16()], 2), t.expand(1)).float()
        latents, old = scheduler.step(pred, old, t, timesteps[i - 1] if i else None, latents, generator=generator,
                                      return_dict=False)
        latents = latents.to(held)
    return latents


def test_bf16_holds_latents_and_noise_in_bf16_between_steps_as_the_release():
    def denoiser(x, t):  # a fixed bf16 function of the whole input
        return (0.5 * x[:, :, :56].float() + x[:, :, 56:57].float()).bfloat16()

    condition = torch.randn(1, 3, 40, 2, 3, generator=torch.Generator().manual_seed(0))
    config = SamplingConfig(steps=3, guidance=1.0, dynamic_cfg=False, seed=4, progress=False)
    out = denoise(denoiser, condition, make_scheduler(SCHEDULER_CONFIG, "dpm"), config, dtype=torch.bfloat16)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, release_loop(denoiser, condition, 3, 4, torch.bfloat16))
    fp32 = config.model_copy(update={"latents": "float32"})  # the named option: float32 between steps
    out = denoise(denoiser, condition, make_scheduler(SCHEDULER_CONFIG, "dpm"), fp32, dtype=torch.bfloat16)
    assert out.dtype == torch.float32
    assert torch.equal(out, release_loop(denoiser, condition, 3, 4, torch.float32))
