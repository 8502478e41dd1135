"""Video codecs with the VideoCodec shape contract: ``(B, F, 3, H, W)`` in [-1, 1], ``F = 4k+1`` <->
latents ``(B, k+1, 16, H/8, W/8)``.

``decode`` returns the decoder's values unclamped: they may leave [-1, 1] where generated latents are
off the training distribution, and the depth codec averages a depth video's three channels before
clipping anything (docs/FORMATS.md#around-the-model); colour consumers clamp
(``aether.tasks.pipeline.AetherPipeline.decode_rgb``).

``PixelCodec`` is parameter-free (CPU tests, demos, tiny models); ``CogVideoXCodec`` wraps the
released diffusers ``AutoencoderKLCogVideoX``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from aether.codecs.errors import CodecError
from aether.core.errors import CheckpointError
from aether.core.interfaces import VideoCodec

LUMA = (0.299, 0.587, 0.114)
MIN_FLOW_SIDE = 16


def _check_video(video: torch.Tensor, spatial: int, temporal: int) -> None:
    if video.dim() != 5 or video.shape[2] != 3:
        raise CodecError(f"video must be (B, F, 3, H, W), got {tuple(video.shape)}")
    n, H, W = video.shape[1], video.shape[3], video.shape[4]
    if (n - 1) % temporal or H % spatial or W % spatial:
        raise CodecError(f"video needs 4k+1 frames and H, W divisible by {spatial}, got F={n}, {H}x{W}")
    if not torch.isfinite(video).all():
        raise CodecError("video holds NaN/inf values")


def _horizontal_flow(video: torch.Tensor) -> torch.Tensor:
    """``(B, F, 3, H, W)`` in [-1, 1] -> ``(B, F, H, W)`` horizontal flow in pixels of each frame from the
    previous one (frame 0: zeros), by OpenCV's DIS optical flow on 8-bit luminance."""
    luma = (video.detach().float().cpu() * torch.tensor(LUMA).view(3, 1, 1)).sum(2)
    grey = ((luma + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    H, W = grey.shape[-2:]
    # DIS needs a side of at least 12 pixels: tiny test frames are padded by reflection
    pad_y, pad_x = max(0, MIN_FLOW_SIDE - H), max(0, MIN_FLOW_SIDE - W)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    flow = np.zeros(grey.shape, np.float32)
    for b in range(grey.shape[0]):
        padded = [cv2.copyMakeBorder(g, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT) for g in grey[b]]
        for f in range(1, len(padded)):
            flow[b, f] = dis.calc(padded[f - 1], padded[f], None)[:H, :W, 0]
    return torch.from_numpy(flow).to(video.device)


def _check_latents(latents: torch.Tensor, channels: int) -> None:
    if latents.dim() != 5 or latents.shape[2] != channels:
        raise CodecError(f"latents must be (B, T, {channels}, h, w), got {tuple(latents.shape)}")
    if not torch.isfinite(latents).all():
        raise CodecError("latents hold NaN/inf values")


class PixelCodec(VideoCodec):
    """Deterministic, parameter-free codec. Latent ``t >= 1`` holds frames ``4t-3 .. 4t``, latent 0
    holds frame 0 four times; per frame, 3 channels of 8x8-average-pooled RGB times ``rgb_scale`` and
    1 channel of each 8x8 block's horizontal optical flow from the previous frame (OpenCV DIS on the
    luminance, 0 for frame 0), in blocks per frame times ``motion_scale`` (16 in all).
    Decoding upsamples the pooled RGB bilinearly: detail finer than 8 px is lost (the motion channel is
    not used by decode).

    Why motion: a camera turn of 1-2 degrees per frame moves the image by a fraction of a block, which
    block means all but hide; a learned video latent (the CogVideoX VAE sees 4 frames at once) keeps
    such motion, and without it a tiny model trained for minutes could not read which way the camera
    turned."""

    def __init__(self, rgb_scale: float = 2.0, motion_scale: float = 4.0) -> None:
        if rgb_scale <= 0 or motion_scale <= 0:
            raise CodecError("PixelCodec scales must be positive")
        self.rgb_scale, self.motion_scale = rgb_scale, motion_scale

    def encode(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, F, 3, H, W)`` -> ``(B, (F-1)/4+1, 16, H/8, W/8)``; deterministic (``generator`` unused)."""
        _check_video(video, self.spatial_factor, self.temporal_factor)
        B, n, _, H, W = video.shape
        s = self.spatial_factor
        pad = self.temporal_factor - 1
        frames = torch.cat([video[:, :1].expand(-1, pad, -1, -1, -1), video], 1)
        mean = F.avg_pool2d(frames.reshape(-1, 3, H, W), s)
        flow = F.pad(_horizontal_flow(video), (0, 0, 0, 0, pad, 0))          # padded copies of frame 0 stand still
        motion = F.avg_pool2d(flow.reshape(-1, 1, H, W), s) / s
        feats = torch.cat([mean * self.rgb_scale, motion * self.motion_scale], 1)
        T = frames.shape[1] // self.temporal_factor
        return feats.reshape(B, T, self.temporal_factor * 4, H // s, W // s)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, T, 16, h, w)`` -> ``(B, 4T-3, 3, 8h, 8w)``, unclamped."""
        _check_latents(latents, self.latent_channels)
        B, T, _, h, w = latents.shape
        per_frame = latents.reshape(B, T, self.temporal_factor, 4, h, w)[:, :, :, :3] / self.rgb_scale
        first = per_frame[:, :1].mean(2)                       # latent 0 holds frame 0 four times
        frames = torch.cat([first, per_frame[:, 1:].reshape(B, -1, 3, h, w)], 1)
        up = F.interpolate(frames.reshape(-1, 3, h, w), scale_factor=self.spatial_factor, mode="bilinear",
                           align_corners=False)
        return up.reshape(B, frames.shape[1], 3, h * self.spatial_factor, w * self.spatial_factor)


def _tiled_length(size: int, tile_in: int, tile_out: int, overlap: float, scale_up: int, scale_down: int) -> int | None:
    """Output length along one axis of ``size`` input cells through diffusers' tiled CogVideoX VAE
    (``tiled_encode`` / ``tiled_decode``): tiles of ``tile_in`` input cells start every
    ``int(tile_in (1 - overlap))``, each gives ``extent * scale_up / scale_down`` output cells of which
    ``tile_out - int(tile_out overlap)`` are kept. None where a tile starts or ends between output
    cells: its latents would sit off the grid of the untiled ones."""
    stride, keep = int(tile_in * (1 - overlap)), tile_out - int(tile_out * overlap)
    if stride < 1:
        return None
    total = 0
    for start in range(0, size, stride):
        extent = min(tile_in, size - start)
        if (start * scale_up) % scale_down or (extent * scale_up) % scale_down:
            return None
        total += min(keep, extent * scale_up // scale_down)
    return total


class CogVideoXCodec(VideoCodec):
    """diffusers ``AutoencoderKLCogVideoX`` in the transformer's latent layout, scaled by its
    ``scaling_factor``; slicing on. Tiling is on wherever diffusers' tiles give exactly the untiled
    latent grid (the released 480x720 frames with its VAE, where the release tiles too); elsewhere
    (frames small against the VAE's configured sample size) the tiled sizes come out wrong
    (docs/FORMATS.md#around-the-model), so that call runs untiled."""

    def __init__(self, vae) -> None:
        config = vae.config
        factor = 2 ** (len(config.block_out_channels) - 1)
        if (config.latent_channels, factor, config.temporal_compression_ratio) != \
                (self.latent_channels, self.spatial_factor, self.temporal_factor):
            raise CheckpointError(
                f"the VAE has {config.latent_channels} latent channels, spatial factor {factor} and temporal factor "
                f"{config.temporal_compression_ratio}; AETHER needs {self.latent_channels}, {self.spatial_factor} "
                f"and {self.temporal_factor} (a CogVideoX VAE)")
        self.vae = vae.eval()
        self.vae.enable_slicing()
        self.vae.enable_tiling()  # sets the tile sizes; each call decides whether to use them
        self.scaling_factor = float(config.scaling_factor)

    @classmethod
    def from_pretrained(cls, vae_dir: str | os.PathLike, dtype: torch.dtype = torch.float32,
                        device: str | torch.device = "cpu") -> "CogVideoXCodec":
        """Load a local diffusers VAE folder (``config.json`` + weights)."""
        from diffusers import AutoencoderKLCogVideoX

        if not os.path.isfile(os.path.join(vae_dir, "config.json")):
            raise CheckpointError(f"{vae_dir} is not a diffusers VAE folder (no config.json); pass the 'vae/' "
                                  "folder of a CogVideoX or AETHER model")
        # safetensors only: diffusers would otherwise unpickle a .bin, which can run code
        if not any(Path(vae_dir).glob("*.safetensors")):  # asked first: diffusers logs its own lines on the way
            raise CheckpointError(f"{vae_dir} holds no .safetensors weights; copy CogVideoX-5b-I2V's vae/ folder "
                                  "with them (pickled .bin weights are never loaded)")
        vae = AutoencoderKLCogVideoX.from_pretrained(vae_dir, torch_dtype=dtype, use_safetensors=True)
        return cls(vae.to(device))

    def _param(self) -> torch.Tensor:
        return next(self.vae.parameters())

    def tiles_exactly(self, height: int, width: int, encode: bool) -> bool:
        """Whether diffusers' tiled VAE maps ``height x width`` (pixels to encode, latent cells to
        decode) onto exactly the untiled output grid."""
        vae, factor = self.vae, self.spatial_factor
        scale = (1, factor) if encode else (factor, 1)
        axes = ((height, vae.tile_sample_min_height, vae.tile_latent_min_height, vae.tile_overlap_factor_height),
                (width, vae.tile_sample_min_width, vae.tile_latent_min_width, vae.tile_overlap_factor_width))
        for size, sample_tile, latent_tile, overlap in axes:
            tiles = (sample_tile, latent_tile) if encode else (latent_tile, sample_tile)
            if _tiled_length(size, *tiles, overlap, *scale) != size * scale[0] // scale[1]:
                return False
        return True

    @contextmanager
    def _tiling(self, height: int, width: int, encode: bool):
        """Tile this call only where that is exact; restore the VAE's flag after (it may be shared)."""
        before = self.vae.use_tiling
        self.vae.use_tiling = self.tiles_exactly(height, width, encode)
        try:
            yield
        finally:
            self.vae.use_tiling = before

    def encode(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, F, 3, H, W)`` in [-1, 1] -> ``(B, T, 16, H/8, W/8)`` scaled latents: the VAE posterior
        sampled with ``generator`` (as the release samples its colour conditions), or its mode without one."""
        return self.sample(self.posterior(video), generator).to(video.dtype)

    @torch.no_grad()
    def posterior(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, F, 3, H, W)`` in [-1, 1] -> the VAE posterior's unscaled moments ``(B, T, 32, H/8, W/8)``
        (mean, then log-variance), in the VAE's dtype."""
        _check_video(video, self.spatial_factor, self.temporal_factor)
        p = self._param()
        B, n, _, H, W = video.shape
        # standard memory layout: in bf16 the VAE's convolutions round differently on a channels-last
        # input, and the release's input (from NumPy frames) reaches them in this layout
        x = video.to(p.device, p.dtype).permute(0, 2, 1, 3, 4).contiguous()
        with self._tiling(H, W, encode=True):
            moments = self.vae.encode(x).latent_dist.parameters
        moments = moments.permute(0, 2, 1, 3, 4)
        _check_shape(moments, (B, (n - 1) // self.temporal_factor + 1, 2 * self.latent_channels,
                               H // self.spatial_factor, W // self.spatial_factor), "encoded")
        return moments

    def sample(self, posterior: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents ``(B, T, 16, h, w)`` from :meth:`posterior`'s moments: drawn as diffusers draws them
        (``latent_dist.sample(generator)``, so the same generator gives the release's sample), or the mode."""
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        if posterior.dim() != 5 or posterior.shape[2] != 2 * self.latent_channels:
            raise CodecError(f"posterior must be (B, T, {2 * self.latent_channels}, h, w) moments, "
                             f"got {tuple(posterior.shape)}")
        dist = DiagonalGaussianDistribution(posterior.permute(0, 2, 1, 3, 4))
        z = dist.mode() if generator is None else dist.sample(generator)
        return (z * self.scaling_factor).permute(0, 2, 1, 3, 4)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, T, 16, h, w)`` -> ``(B, 4T-3, 3, 8h, 8w)``, unclamped. Follows the caller's grad mode, so
        stage-2 training losses on decoded pixels reach the latents."""
        _check_latents(latents, self.latent_channels)
        p = self._param()
        B, T, _, h, w = latents.shape
        # times 1/scaling as the release decodes (not a division: bf16 rounding would differ)
        z = latents.to(p.device, p.dtype).permute(0, 2, 1, 3, 4) * (1 / self.scaling_factor)
        with self._tiling(h, w, encode=False):
            out = self.vae.decode(z).sample
        video = out.permute(0, 2, 1, 3, 4).to(latents.dtype)
        _check_shape(video, (B, (T - 1) * self.temporal_factor + 1, 3, h * self.spatial_factor,
                             w * self.spatial_factor), "decoded")
        return video


def _check_shape(x: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    """Raise unless the VAE's output has the shape the codec contract promises."""
    if tuple(x.shape) != expected:
        hint = "; CogVideoX decodes only an odd number of latent frames" if x.shape[1] != expected[1] else ""
        raise CodecError(f"the VAE {what} to shape {tuple(x.shape)}, expected {expected}{hint}")
