"""Stage-1 diffusion target and stage-2 losses on hand-built cases (the aether-train README, how it works)."""

from __future__ import annotations

import torch
from aether.core.model_folder import default_scheduler_config
from aether.tasks.sampling import make_scheduler
from aether.train import losses


def test_v_prediction_target_gives_back_the_clean_latent():
    scheduler = make_scheduler(default_scheduler_config())
    x0, noise = torch.randn(3, 2, 56, 4, 6), torch.randn(3, 2, 56, 4, 6)
    t = torch.tensor([0, 500, 999])
    noisy = scheduler.add_noise(x0, noise, t)
    v = losses.diffusion_target(scheduler, x0, noise, t)
    assert torch.allclose(losses.predicted_x0(scheduler, noisy, v, t), x0, atol=1e-5)
    assert torch.equal(losses.latent_mse(v, v), torch.zeros(3))


def test_ssi_loss_is_zero_up_to_scale_and_shift_and_positive_otherwise():
    gt = torch.rand(2, 3, 16, 24) + 0.1
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[:, :, :2] = False
    pred = gt * torch.tensor([3.0, 0.5]).view(2, 1, 1, 1) + torch.tensor([-1.0, 2.0]).view(2, 1, 1, 1)
    pred[~valid] = 100.0  # invalid pixels do not count
    assert torch.allclose(losses.ssi_depth_loss(pred, gt, valid), torch.zeros(2), atol=1e-6)
    bumped = pred.clone()
    bumped[:, :, 8:, 12:] += 0.3
    loss = losses.ssi_depth_loss(bumped, gt, valid)
    assert (loss > 1e-3).all()
    assert (losses.ssi_depth_loss(bumped, gt, valid, alpha=0.0) < loss).all()  # the gradient term adds


def _raymap(batch: int, frames: int) -> torch.Tensor:
    from aether.codecs import raymap

    c2w = torch.eye(4).repeat(batch, frames, 1, 1)
    c2w[..., 0, 3] = torch.linspace(0, 0.5, frames)
    K = torch.tensor([[40.0, 0, 24], [0, 40.0, 16], [0, 0, 1]]).repeat(batch, frames, 1, 1)
    return raymap.encode(c2w, K, 32, 48, p_max=torch.full((batch,), 0.5))


def test_pointmap_loss_is_zero_for_the_truth_and_its_gradients_reach_the_raymap_only():
    gt_raymap = _raymap(2, 5)
    gt_depth = torch.rand(2, 5, 32, 48) * 3 + 1
    assert torch.allclose(losses.pointmap_loss(gt_depth, gt_raymap, gt_depth, gt_raymap), torch.zeros(2), atol=1e-6)
    pred_depth = (gt_depth * 1.1).requires_grad_()
    pred_raymap = (gt_raymap + 0.05 * torch.randn_like(gt_raymap)).requires_grad_()
    for norm in ("l1", "l2"):
        loss = losses.pointmap_loss(pred_depth, pred_raymap, gt_depth, gt_raymap, norm).sum()
        assert loss > 0
        loss.backward()
    assert pred_depth.grad is None
    assert pred_raymap.grad is not None and pred_raymap.grad.abs().sum() > 0


def test_pointmap_loss_is_scale_invariant():
    gt_raymap, gt_depth = _raymap(1, 5), torch.rand(1, 5, 32, 48) + 1
    from aether.core.kernels.raymap_reference import signed_expm1, signed_log1p

    scaled = gt_raymap.clone()
    scaled[:, :, 3:] = signed_log1p(2 * signed_expm1(gt_raymap[:, :, 3:]))   # origins x 2
    assert losses.pointmap_loss(2 * gt_depth, scaled, gt_depth, gt_raymap) < 1e-5


def test_colour_loss_is_zero_for_identical_videos_and_grows_with_noise():
    video = torch.rand(2, 5, 3, 32, 48) * 2 - 1
    assert torch.allclose(losses.colour_loss(video, video), torch.zeros(2), atol=1e-5)
    noisy = (video + 0.2 * torch.randn_like(video)).clamp(-1, 1)
    assert (losses.colour_loss(noisy, video) > 0.05).all()
    big = torch.rand(1, 1, 3, 176, 176) * 2 - 1   # large enough for 5-scale MS-SSIM
    assert losses.colour_loss(big, big).abs().max() < 1e-5


def test_decoded_losses_reach_the_latents_through_the_cogvideox_vae():
    from aether.codecs.video import CogVideoXCodec
    from aether.core.testing.tiny_model import tiny_vae

    torch.manual_seed(0)
    vae = tiny_vae().requires_grad_(False)
    latents = torch.randn(1, 3, 16, 4, 6, requires_grad=True)
    video = CogVideoXCodec(vae).decode(latents)
    losses.colour_loss(video, torch.zeros_like(video)).sum().backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0


def test_depth_loss_still_teaches_where_the_prediction_leaves_the_release_range(clips, tiny_config, tmp_path):
    """A predicted depth video brighter than the near end (q > 1) decodes to a clipped, constant disparity in the
    release; the loss reads it unclipped, so its gradient still reaches those latents."""
    from aether.codecs.encoders import RaymapEncoder
    from aether.codecs.video import PixelCodec
    from aether.train.config import LossConfig
    from aether.train.data import ClipWindows, collate
    from aether.train.objective import Objective

    batch = collate([ClipWindows(tiny_config(clips, tmp_path), global_batch=1)[(0, 0)]])
    codec = PixelCodec()
    x0 = torch.cat([codec.encode(batch["video"]), codec.encode(batch["depth_video"]), batch["action"]], 2)
    x0[:, :, 16:32] = 2 * (3.0 + 0.5 * torch.rand_like(x0[:, :, 16:32]))  # decoded channel means 3 to 3.5: q > 2
    x0.requires_grad_(True)
    objective = Objective(LossConfig(stage=2), make_scheduler(default_scheduler_config()), codec, RaymapEncoder())
    objective.decoded_losses(x0, batch, torch.device("cpu"))["depth"].sum().backward()
    assert x0.grad[:, :, 16:32].abs().sum() > 0
