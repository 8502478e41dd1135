"""``AetherPipeline``: 4D reconstruction, video prediction and visual planning (docs/FORMATS.md#tasks, #tensor-layout).

Inputs are uint8 NumPy frames ``(F, H, W, 3)`` (any size: they are resized to cover the model's
size and centre-cropped); outputs are :class:`aether.tasks.result.TaskResult` at the model's size.
Colour, depth and raymap latents are decoded by the video codec, the depth codec (relative depth,
``p_max`` unknown) and the action encoder (cameras by least squares, or the release's heuristic).

Around the model each pass does what the release does (docs/FORMATS.md#around-the-model): one generator seeded by
``SamplingConfig.seed`` samples the colour conditions' VAE posteriors, then the initial and per-step
noise; prediction and planning decode the generated video to RGB and reconstruct that.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any, Literal, get_args

import numpy as np
import torch

from aether.codecs.frames import fit_frames, frames_to_video, rgb_to_frames, rgb_to_video
from aether.core import dtypes
from aether.core.errors import AetherError
from aether.core.interfaces import ACTION_CHANNELS, COLOUR_CHANNELS, DEPTH_CHANNELS
from aether.core.registry import Registry, default_registry
from aether.tasks.maskings import build_condition
from aether.tasks.result import TaskResult
from aether.tasks.sampling import SamplingConfig, denoise, make_scheduler, seeded_generator

MIN_FRAMES = 9          # the fewest frames one pass takes
TEMPORAL = 4            # video frames per latent frame (after the first)
# One pass takes 8m + 1 frames, i.e. an odd number of latent frames: the released model was trained
# on 17/25/33/41 frames, and the CogVideoX VAE decoder reads latent frames in pairs after an odd
# first chunk, so an even latent count decodes to the wrong number of frames.
FRAME_STEP = 2 * TEMPORAL
SPATIAL = 8             # pixels per latent cell
MAX_DEFAULT_FRAMES = 41  # the longest clip the released model was trained on
DEFAULT_FOV_DEG = 60.0  # horizontal field of view of a trajectory given without intrinsics
# what the reconstruction pass after prediction / planning reads: the generated video decoded to RGB and
# re-encoded (the release), or the generated colour latents directly
PostReconstruction = Literal["rgb", "latents"]
POST_RECONSTRUCTIONS = get_args(PostReconstruction)
_DEPTH = slice(COLOUR_CHANNELS, COLOUR_CHANNELS + DEPTH_CHANNELS)
_RAYMAP = slice(COLOUR_CHANNELS + DEPTH_CHANNELS, COLOUR_CHANNELS + DEPTH_CHANNELS + ACTION_CHANNELS)


class TaskInputError(AetherError, ValueError):
    """Task input of the wrong kind, size or length."""


# --------------------------------------------------------------------------- input helpers
def check_frame_count(num_frames: int, what: str = "video") -> None:
    """Raise unless ``num_frames`` is ``8m + 1 >= 9`` (what one model pass can take)."""
    if num_frames < MIN_FRAMES or (num_frames - 1) % FRAME_STEP:
        nearest = max(MIN_FRAMES, round((num_frames - 1) / FRAME_STEP) * FRAME_STEP + 1)
        raise TaskInputError(f"{what} has {num_frames} frames; one pass needs 8m + 1 frames "
                             f"(9, 17, 25, 33, 41): use {nearest}")


def check_video(frames: np.ndarray) -> np.ndarray:
    """Raise unless ``frames`` is a video ``(F, H, W, 3)`` of at least 9 frames; return it."""
    frames = np.asarray(frames)
    if frames.ndim == 3 or (frames.ndim == 4 and len(frames) == 1):
        raise TaskInputError("reconstruction needs a video (>= 9 frames) but got a single image; "
                             "to generate a video from one image use `aether predict`")
    if frames.ndim != 4 or len(frames) < MIN_FRAMES:
        raise TaskInputError(f"video has {len(frames)} frames; reconstruction needs at least {MIN_FRAMES} "
                             "(longer videos run in overlapping windows)")
    return frames


def default_frame_count(sample_frames: int) -> int:
    """The longest one-pass clip (``8m + 1``, 9 to 41 frames) within a transformer's ``sample_frames``."""
    return max(MIN_FRAMES, (min(sample_frames, MAX_DEFAULT_FRAMES) - 1) // FRAME_STEP * FRAME_STEP + 1)


def default_intrinsics(num_frames: int, height: int, width: int,
                       fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """``(F, 3, 3)`` pinhole intrinsics of horizontal field of view ``fov_deg``, centred: the principal point at
    ``((W - 1) / 2, (H - 1) / 2)``, the middle of the pixel grid (pixel centres at integers), where the release's
    decode puts it too."""
    if not 0 < fov_deg < 180:
        raise TaskInputError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    focal = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    K = np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return np.tile(K, (num_frames, 1, 1))


def _build_action_encoder(registry: Registry, name: str, options: dict[str, Any]):
    """The action-encoder plugin ``name`` built with ``options``, refused before the slow model load when it
    does not take them."""
    builder = registry.builder("action_encoder", name)
    try:
        inspect.signature(builder).bind(**options)
    except TypeError:
        raise TaskInputError(f"the model's action encoder {name!r} takes no option "
                             f"{', '.join(sorted(options))}; reading cameras the release's way needs the "
                             "raymap encoder") from None
    return builder(**options)


def _relative_to_first(c2w: np.ndarray) -> np.ndarray:
    """Re-express ``(F, 4, 4)`` poses in the first camera's frame (first pose = identity)."""
    return np.linalg.inv(c2w[0]) @ c2w


# --------------------------------------------------------------------------- the pipeline
class AetherPipeline:
    """Runs the three tasks with a backbone, a video codec, a depth codec and an action encoder.

    ``backbone(x (B, T, 96, h, w), timestep (B,), fps, prompt_embeds (B, L, D)) -> (B, T, 56, h, w)``;
    ``video_codec``, ``depth_codec``, ``action_encoder`` follow :mod:`aether.core.interfaces`;
    ``scheduler_config`` is a diffusers scheduler config; ``prompt_embeds (1, L, D)``.
    """

    def __init__(self, backbone, video_codec, depth_codec, action_encoder, scheduler_config: dict,
                 prompt_embeds: torch.Tensor, height: int, width: int, default_frames: int = 41,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 registry: Registry | None = None) -> None:
        if height % SPATIAL or width % SPATIAL:
            raise TaskInputError(f"model size {height}x{width} must be a multiple of {SPATIAL}")
        check_frame_count(default_frames, "the model's default clip")
        self.backbone, self.video_codec, self.depth_codec = backbone, video_codec, depth_codec
        self.action_encoder, self.scheduler_config = action_encoder, dict(scheduler_config)
        self.device, self.dtype = torch.device(device), dtype
        self.prompt_embeds = prompt_embeds.to(self.device, dtype)
        self.height, self.width, self.default_frames = height, width, default_frames
        self.registry = registry or default_registry()

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, dtype: str = "fp32",
                        device: str | torch.device | None = None,
                        registry: Registry | None = None,
                        action_options: dict[str, Any] | None = None) -> "AetherPipeline":
        """Load a model folder (``transformer/``, ``vae/``, ``scheduler/``, prompt embedding) with
        the backbone / codec / action-encoder plugins its ``aether.json`` names; ``dtype``: a name of
        :mod:`aether.core.dtypes`; ``action_options``: keyword options of the action encoder (the raymap's
        ``method="released"`` reads cameras with the release's heuristic)."""
        from aether.core.model_folder import ModelFolder

        torch_dtype = dtypes.torch_dtype(dtype)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        registry = registry or default_registry()
        folder = ModelFolder(model_dir)
        action_encoder = _build_action_encoder(registry, folder.settings.action_encoder, action_options or {})
        height, width = folder.sample_size()
        backbone = folder.build_backbone(registry, torch_dtype)
        video_codec = folder.build_video_codec(registry, torch_dtype, device)
        for module in (backbone, video_codec):
            if isinstance(module, torch.nn.Module):
                module.to(device=device, dtype=torch_dtype).eval()
        sample_frames = folder.transformer_config().get("sample_frames", MAX_DEFAULT_FRAMES)
        return cls(backbone=backbone, video_codec=video_codec,
                   depth_codec=registry.build("modality", "disparity"),
                   action_encoder=action_encoder,
                   scheduler_config=folder.scheduler_config(), prompt_embeds=folder.prompt_embeds(),
                   height=height * SPATIAL, width=width * SPATIAL, default_frames=default_frame_count(sample_frames),
                   device=device, dtype=torch_dtype, registry=registry)

    # ----------------------------------------------------------------------- building blocks
    @property
    def latent_size(self) -> tuple[int, int]:
        return self.height // SPATIAL, self.width // SPATIAL

    def to_video(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``(F, H, W, 3)`` (any size) -> ``(1, F, 3, H, W)`` in [-1, 1] at the model's size."""
        return frames_to_video(fit_frames(frames, self.height, self.width), self.device, self.dtype)

    def observe(self, config: SamplingConfig, *videos: torch.Tensor) -> tuple[torch.Tensor, torch.Generator]:
        """The pass's generator and its colour condition: ``videos`` (``(1, F, 3, H, W)`` in [-1, 1] each)
        encoded in turn, concatenated over latent frames ``(1, T, 16, h, w)``. As in the release, the VAE
        posteriors are sampled with that generator before it draws any noise (``config.posterior="mode"``:
        their modes)."""
        generator = seeded_generator(config.seed, self.device)
        sampler = generator if config.posterior == "sample" else None
        with torch.no_grad():
            return torch.cat([self.video_codec.encode(video, sampler) for video in videos], dim=1), generator

    def action_from_cameras(self, c2w: np.ndarray, K: np.ndarray | None = None,
                            p_max: float | None = None) -> torch.Tensor:
        """A trajectory ``c2w (F, 4, 4)`` (+ ``K (F, 3, 3)`` at model size, default 60 degree
        field of view) -> the packed action ``(1, T, 24, h, w)``, its translations times ``p_max`` (1 /
        the nearest depth in the trajectory's units, as training scaled them; None: the trajectory is in
        units of the nearest depth already)."""
        c2w = np.asarray(c2w, np.float64)
        if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or not np.isfinite(c2w).all():
            raise TaskInputError(f"trajectory must be finite (F, 4, 4) camera-to-world poses, "
                                 f"got {c2w.shape}")
        check_frame_count(len(c2w), "the trajectory")
        K = default_intrinsics(len(c2w), self.height, self.width) if K is None else np.asarray(K, np.float64)
        if K.shape != (len(c2w), 3, 3):
            raise TaskInputError(f"intrinsics must be ({len(c2w)}, 3, 3) for {len(c2w)} poses, got {K.shape}")
        c2w_t, K_t = (torch.from_numpy(a)[None].float().to(self.device) for a in (_relative_to_first(c2w), K))
        scale = {} if p_max is None else {"p_max": torch.tensor([float(p_max)], device=self.device)}
        return self.action_encoder.encode(c2w_t, K_t, self.height, self.width, **scale).to(self.dtype)

    def action_from_raymap(self, raymap: np.ndarray) -> torch.Tensor:
        """An unpacked released-format raymap ``(F, 6, h, w)`` -> the action ``(1, T, channels, h, w)``, packed the
        way this model's action encoder packs it (the release: strided); an encoder that reads no raymaps says so."""
        raymap = np.asarray(raymap, np.float32)
        h, w = self.latent_size
        if raymap.ndim != 4 or raymap.shape[1:] != (6, h, w):
            raise TaskInputError(f"raymap must be (F, 6, {h}, {w}) for this model, got {raymap.shape}")
        check_frame_count(len(raymap), "the raymap")
        return self.action_encoder.from_raymap(torch.from_numpy(raymap)[None].to(self.device)).to(self.dtype)

    def sample(self, task: str, observed: torch.Tensor | None, num_latent_frames: int, fps: float,
               action: torch.Tensor | None = None, config: SamplingConfig | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample the model output ``(1, T, 56, h, w)`` for masking ``task`` (see
        :func:`aether.tasks.maskings.build_condition` for ``observed`` and ``action``), drawing noise from
        ``generator`` (default: a fresh one seeded by ``config.seed``)."""
        if not fps > 0:
            raise TaskInputError(f"fps must be positive, got {fps}")
        masking = self.registry.build("task_masking", task)
        config = (config or SamplingConfig()).resolved(masking)
        condition = build_condition(masking, observed, num_latent_frames, action,
                                    latent_shape=(1, *self.latent_size)).to(self.device)
        uncond = masking.unconditional(condition) if config.guidance > 1.0 else None
        prompt = self.prompt_embeds

        def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.backbone(x, t, float(fps), prompt.expand(x.shape[0], -1, -1))

        with torch.no_grad():
            return denoise(denoiser, condition, make_scheduler(self.scheduler_config, config.scheduler),
                           config, uncond, dtype=self.dtype, generator=generator)

    def decode_rgb(self, latents: torch.Tensor) -> torch.Tensor:
        """Model output ``(1, T, 56, h, w)`` -> colour ``(1, F, 3, H, W)`` in [0, 1] as the release returns it
        (``x / 2 + 1/2`` of the decoded video, clamped, in the codec's dtype)."""
        with torch.no_grad():
            return (self.video_codec.decode(latents[:, :, :COLOUR_CHANNELS].to(self.dtype)) * 0.5 + 0.5).clamp(0, 1)

    def decode_geometry(self, latents: torch.Tensor) -> dict[str, np.ndarray]:
        """Model output ``(1, T, 56, h, w)`` -> relative ``depth (F, H, W)``, ``disparity`` (``q^2``
        in [1e-3, 1], from the decoded depth video's channels averaged unclamped), ``c2w (F, 4, 4)``
        (first camera = identity) and ``K (F, 3, 3)``."""
        with torch.no_grad():
            depth_video = self.video_codec.decode(latents[:, :, _DEPTH].to(self.dtype)).float()
            depth = self.depth_codec.decode(depth_video)[0].cpu().numpy().astype(np.float32)
            c2w, K = self.action_encoder.decode(latents[:, :, _RAYMAP].float(), self.height, self.width)
        return {"depth": depth, "disparity": (1.0 / depth).astype(np.float32),
                "c2w": _relative_to_first(c2w[0].double().cpu().numpy()), "K": K[0].double().cpu().numpy()}

    # ----------------------------------------------------------------------- the tasks
    def reconstruct(self, frames: np.ndarray, fps: float = 12.0, config: SamplingConfig | None = None,
                    window: int = 41, stride: int = 24) -> TaskResult:
        """Depth and cameras of a video ``(F, H, W, 3)`` uint8, ``F >= 9``. Up to ``window`` frames
        run as one pass; longer clips as overlapping windows (``window``, ``stride``), merged."""
        frames = fit_frames(check_video(frames), self.height, self.width)
        if len(frames) <= window:
            return self._reconstruct_window(frames, fps, config)
        from aether.tasks.windows import reconstruct_long

        return reconstruct_long(lambda a, b: self._reconstruct_window(frames[a:b], fps, config),
                                len(frames), window, stride, progress=config is None or config.progress)

    def _reconstruct_window(self, frames: np.ndarray, fps: float,
                            config: SamplingConfig | None) -> TaskResult:
        """One pass over frames ``(F, H, W, 3)`` at model size; its RGB is the input."""
        return TaskResult(rgb=frames, fps=fps, task="reconstruction",
                          **self._reconstruction_geometry(self.to_video(frames), fps, config or SamplingConfig()))

    def _reconstruction_geometry(self, video: torch.Tensor, fps: float,
                                 config: SamplingConfig) -> dict[str, np.ndarray]:
        """Depth and cameras of a video ``(1, F, 3, H, W)`` in [-1, 1] at model size by one pass; the clip is
        padded to ``8m + 1`` frames by repeating its last frame, and the padding is dropped from the result."""
        count = video.shape[1]
        padded = math.ceil((count - 1) / FRAME_STEP) * FRAME_STEP + 1
        observed, generator = self.observe(
            config, torch.cat([video, video[:, -1:].expand(-1, padded - count, -1, -1, -1)], dim=1))
        latents = self.sample("reconstruction", observed, observed.shape[1], fps, config=config, generator=generator)
        return {key: value[:count] for key, value in self.decode_geometry(latents).items()}

    def predict(self, image: np.ndarray, num_frames: int | None = None, fps: float = 12.0,
                action: torch.Tensor | None = None, config: SamplingConfig | None = None,
                reconstruction: SamplingConfig | None = None,
                post_reconstruction: PostReconstruction = "rgb") -> TaskResult:
        """A ``num_frames`` video from one image ``(H, W, 3)`` uint8, along ``action`` (from
        :meth:`action_from_cameras` / :meth:`action_from_raymap`) if given; then a reconstruction
        pass (``reconstruction``, default: 4 steps at the same seed) gives depth and cameras. It reads
        the generated video decoded to RGB and re-encoded (``post_reconstruction="rgb"``, the release)
        or the generated colour latents directly (``"latents"``: one VAE encode fewer)."""
        return self._generate("prediction", [_one_image(image, "observation")], num_frames, fps, action, config,
                              reconstruction, post_reconstruction)

    def plan(self, observation: np.ndarray, goal: np.ndarray, num_frames: int | None = None,
             fps: float = 12.0, action: torch.Tensor | None = None, config: SamplingConfig | None = None,
             reconstruction: SamplingConfig | None = None,
             post_reconstruction: PostReconstruction = "rgb") -> TaskResult:
        """A ``num_frames`` video from ``observation`` to ``goal`` (both ``(H, W, 3)`` uint8); the rest
        as :meth:`predict`."""
        return self._generate("planning", [_one_image(observation, "observation"), _one_image(goal, "goal")],
                              num_frames, fps, action, config, reconstruction, post_reconstruction)

    def _generate(self, task: str, images: list[np.ndarray], num_frames: int | None, fps: float,
                  action: torch.Tensor | None, config: SamplingConfig | None,
                  reconstruction: SamplingConfig | None, post_reconstruction: PostReconstruction) -> TaskResult:
        if post_reconstruction not in POST_RECONSTRUCTIONS:
            raise TaskInputError(f"post_reconstruction must be one of {', '.join(POST_RECONSTRUCTIONS)}, "
                                 f"got {post_reconstruction!r}")
        if action is not None:
            action_frames = (action.shape[1] - 1) * TEMPORAL + 1
            if num_frames not in (None, action_frames):
                raise TaskInputError(f"the trajectory has {action_frames} frames but {num_frames} were asked "
                                     "for; give one pose per frame or leave the frame count out")
            num_frames = action_frames
        num_frames = num_frames or self.default_frames
        check_frame_count(num_frames, f"the requested {task} clip")
        num_latent = (num_frames - 1) // TEMPORAL + 1
        config = config or SamplingConfig()
        observed, generator = self.observe(config, *map(self.to_video, images))
        latents = self.sample(task, observed, num_latent, fps, action, config, generator)
        rgb = self.decode_rgb(latents)
        reconstruction = reconstruction or SamplingConfig(**config.model_dump(
            include={"seed", "scheduler", "posterior", "latents", "progress"}))
        if post_reconstruction == "rgb":  # the release's: the RGB it returns, re-encoded
            geometry = self._reconstruction_geometry(rgb_to_video(rgb, self.dtype), fps, reconstruction)
        else:
            geometry = self.decode_geometry(self.sample("reconstruction", latents[:, :, :COLOUR_CHANNELS],
                                                        num_latent, fps, config=reconstruction))
        return TaskResult(rgb=rgb_to_frames(rgb), fps=fps, task=task, **geometry)


def _one_image(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise TaskInputError(f"the {what} must be one uint8 RGB image (H, W, 3), "
                             f"got {image.dtype} {image.shape}")
    return image[None]
