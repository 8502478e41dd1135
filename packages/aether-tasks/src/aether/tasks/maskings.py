"""Task maskings (docs/FORMATS.md#tasks, #tensor-layout): which latent frames carry an observed colour condition, which
of them the CFG unconditional branch drops, default steps / guidance and the training share.

Condition layout ``(B, T, 40, h, w)``: colour condition ``[0:16]`` (observed colour latents, zeros
elsewhere) and action ``[16:40]`` (the packed raymap of a given trajectory, else zeros).
"""

from __future__ import annotations

import torch

from aether.core.errors import AetherError
from aether.core.interfaces import ACTION_CHANNELS, COLOUR_CHANNELS, TaskMasking


class MaskingError(AetherError, ValueError):
    """Observations or an action that do not fit a task masking."""


class _Masking(TaskMasking):
    """A masking given by two per-latent-frame rules: kept frames and CFG-dropped frames."""

    def _drop_mask(self, num_latent_frames: int) -> torch.Tensor:
        """``(T,)`` bool: latent frames whose colour condition the unconditional branch zeroes."""
        raise NotImplementedError

    def num_observed(self, num_latent_frames: int) -> int:
        """How many observed colour latents this masking needs for ``T`` latent frames."""
        return int(self.keep_mask(num_latent_frames).sum())

    def unconditional(self, condition: torch.Tensor) -> torch.Tensor:
        drop = self._drop_mask(condition.shape[1]).to(condition.device)
        uncond = condition.clone()
        uncond[:, drop, :COLOUR_CHANNELS] = 0
        return uncond

    def __repr__(self) -> str:
        return f"<masking {self.name}: {self.default_steps} steps, guidance {self.default_guidance}>"


def _frames(num_latent_frames: int, *indices: int) -> torch.Tensor:
    if num_latent_frames < 2:
        raise MaskingError(f"need at least 2 latent frames (9 video frames), got {num_latent_frames}")
    mask = torch.zeros(num_latent_frames, dtype=torch.bool)
    mask[list(indices)] = True
    return mask


class ReconstructionMasking(_Masking):
    """Every latent frame observed (4D reconstruction); CFG, if asked for, drops all colour."""

    name, train_probability = "reconstruction", 0.28
    default_steps, default_guidance, dynamic_cfg = 4, 1.0, False

    def keep_mask(self, num_latent_frames: int) -> torch.Tensor:
        return torch.ones(num_latent_frames, dtype=torch.bool)

    def _drop_mask(self, num_latent_frames: int) -> torch.Tensor:
        return self.keep_mask(num_latent_frames)


class PredictionMasking(_Masking):
    """The first latent frame observed (video prediction); CFG drops that first frame."""

    name, train_probability = "prediction", 0.40
    default_steps, default_guidance, dynamic_cfg = 50, 3.0, True

    def keep_mask(self, num_latent_frames: int) -> torch.Tensor:
        return _frames(num_latent_frames, 0)

    def _drop_mask(self, num_latent_frames: int) -> torch.Tensor:
        return _frames(num_latent_frames, 0)


class PlanningMasking(_Masking):
    """First (observation) and last (goal) latent frames observed; CFG drops every colour frame."""

    name, train_probability = "planning", 0.30
    default_steps, default_guidance, dynamic_cfg = 50, 3.0, True

    def keep_mask(self, num_latent_frames: int) -> torch.Tensor:
        return _frames(num_latent_frames, 0, num_latent_frames - 1)

    def _drop_mask(self, num_latent_frames: int) -> torch.Tensor:
        return torch.ones(num_latent_frames, dtype=torch.bool)


class UnconditionalMasking(_Masking):
    """No colour condition (training only: 2 %); CFG has nothing to drop, so guidance is off."""

    name, train_probability = "unconditional", 0.02
    default_steps, default_guidance, dynamic_cfg = 50, 1.0, False

    def keep_mask(self, num_latent_frames: int) -> torch.Tensor:
        return torch.zeros(num_latent_frames, dtype=torch.bool)

    def _drop_mask(self, num_latent_frames: int) -> torch.Tensor:
        return torch.zeros(num_latent_frames, dtype=torch.bool)


def build_condition(masking: TaskMasking, observed: torch.Tensor | None, num_latent_frames: int,
                    action: torch.Tensor | None = None, latent_shape: tuple[int, int, int] | None = None,
                    ) -> torch.Tensor:
    """The model condition ``(B, T, 40, h, w)`` of one task.

    ``observed (B, K, 16, h, w)``: the clean colour latents of the observed frames in time order
    (K = the number of frames ``masking.keep_mask(T)`` keeps: T for reconstruction, 1 for
    prediction, 2 = observation, goal for planning; None when K = 0, then ``latent_shape = (B, h, w)``
    is required). ``action (B, T, 24, h, w)`` or None (zeros).
    """
    keep = masking.keep_mask(num_latent_frames)
    needed = int(keep.sum())
    given = 0 if observed is None else observed.shape[1]
    if given != needed:
        raise MaskingError(f"the {masking.name} task needs {needed} observed colour latent frame(s) "
                           f"for {num_latent_frames} latent frames, got {given}")
    ref = observed if observed is not None else action
    if ref is not None:
        batch, h, w, device, dtype = ref.shape[0], ref.shape[-2], ref.shape[-1], ref.device, ref.dtype
    elif latent_shape is not None:
        (batch, h, w), device, dtype = latent_shape, torch.device("cpu"), torch.float32
    else:
        raise MaskingError("build_condition needs observed latents, an action or latent_shape=(B, h, w)")
    condition = torch.zeros(batch, num_latent_frames, COLOUR_CHANNELS + ACTION_CHANNELS, h, w,
                            device=device, dtype=dtype)
    if needed:
        if observed.shape[2:] != (COLOUR_CHANNELS, h, w):
            raise MaskingError(f"observed colour latents must be (B, K, {COLOUR_CHANNELS}, {h}, {w}), "
                               f"got {tuple(observed.shape)}")
        condition[:, keep.to(device), :COLOUR_CHANNELS] = observed.to(dtype)
    if action is not None:
        if action.shape != (batch, num_latent_frames, ACTION_CHANNELS, h, w):
            expected = (batch, num_latent_frames, ACTION_CHANNELS, h, w)
            raise MaskingError(f"action condition must be (B, T, {ACTION_CHANNELS}, h, w) = {expected}, got "
                               f"{tuple(action.shape)}; the trajectory needs one pose per video frame")
        condition[:, :, COLOUR_CHANNELS:] = action.to(dtype)
    return condition
