"""Will a camera path's motion show? Its size in the model's units and in pixels (docs/CAMERAS.md).

A path drives the model through its raymap, whose translations are ``t * p_max`` (units of the nearest
depth) before ``s_ray`` and the log (docs/FORMATS.md#raymap-codec). What the model can show is the image motion this
causes: here, the motion of image points at the nearest depth (the most parallax any point gets; rotation moves
every point alike), as the median over a grid of pixels.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial.transform import Rotation

from aether.core.kernels.raymap_reference import DOWNSAMPLE, S_RAY

_GRID = 9  # points per image axis whose motion is measured


class MotionLimits(BaseModel):
    """When to warn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_clip_pixels: float = Field(float(DOWNSAMPLE), gt=0, description="less image motion over the whole clip "
                                   "than one latent cell (8 pixels) does not show in the latent the model sees")
    max_frame_fraction: float = Field(0.25, gt=0, description="more image motion in one frame than this share "
                                      "of the image width is far beyond smooth video")


class MotionSummary(BaseModel):
    """A path's motion: totals, the largest step between consecutive frames, and the image motion."""

    model_config = ConfigDict(frozen=True)

    frames: int
    p_max: float = Field(description="1 / nearest depth, in 1 / (the path's units)")
    rotation_deg: float = Field(description="rotation from the first to the last camera")
    rotation_path_deg: float = Field(description="sum of the rotations between consecutive frames")
    translation: float = Field(description="distance from the first to the last camera, the path's units")
    path_length: float = Field(description="sum of the steps between consecutive frames, the path's units")
    max_step: float = Field(description="largest step between consecutive frames, the path's units")
    max_step_rotation_deg: float
    max_step_model_units: float = Field(description="max_step * p_max: in units of the nearest depth")
    max_step_raymap: float = Field(description="max_step * p_max * s_ray, what the raymap's log receives")
    clip_pixels: float = Field(description="largest image motion from the first frame at the nearest depth")
    max_frame_pixels: float = Field(description="largest image motion between consecutive frames")
    width: int

    def warnings(self, limits: MotionLimits | None = None) -> list[str]:
        """The ways this motion will not come out as meant; none for an exactly static path."""
        limits = limits or MotionLimits()
        out = []
        if 0 < self.clip_pixels < limits.min_clip_pixels:
            out.append(f"the camera motion is too small to show: {self.clip_pixels:.2g} px of image motion over the "
                       f"whole clip at the nearest depth ({1 / self.p_max:.3g} path units), less than one latent "
                       f"cell ({limits.min_clip_pixels:g} px); the video will likely not move. Check the path's "
                       "units against --scene-depth (docs/CAMERAS.md)")
        if self.max_frame_pixels > limits.max_frame_fraction * self.width:
            shown = "passes the nearest surface" if np.isinf(self.max_frame_pixels) else \
                f"moves the image by {self.max_frame_pixels:.0f} px"
            out.append(f"the camera motion is implausibly large: one frame's step {shown} at the nearest depth "
                       f"({1 / self.p_max:.3g} path units; limit {limits.max_frame_fraction:.0%} of the "
                       f"{self.width} px width). Check the path's units against --scene-depth (docs/CAMERAS.md)")
        return out


def _angles_deg(rot: np.ndarray) -> np.ndarray:
    return np.degrees(Rotation.from_matrix(rot).magnitude())


def pixel_motion(src: np.ndarray, dst: np.ndarray, K_src: np.ndarray, K_dst: np.ndarray, depth: float,
                 height: int, width: int) -> np.ndarray:
    """Median image motion ``(N,)`` in pixels of a grid of points at z-depth ``depth`` in cameras ``src
    (N, 4, 4)`` (c2w, intrinsics ``K_src (N, 3, 3)``) seen from cameras ``dst``; inf where a point falls
    behind a ``dst`` camera."""
    u, v = np.meshgrid(np.linspace(0, width - 1, _GRID), np.linspace(0, height - 1, _GRID))
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)])                         # 3, P
    points = depth * np.linalg.inv(K_src) @ pixels                                     # N, 3, P
    world = src[:, :3, :3] @ points + src[:, :3, 3:]
    cam = dst[:, :3, :3].swapaxes(-1, -2) @ (world - dst[:, :3, 3:])
    z = cam[:, 2:]
    seen = (K_dst @ cam)[:, :2] / np.where(z > 1e-9, z, 1.0)
    motion = np.where(z[:, 0] > 1e-9, np.linalg.norm(seen - pixels[:2], axis=1), np.inf)
    return np.median(motion, axis=1)


def describe_motion(c2w: np.ndarray, K: np.ndarray, height: int, width: int, p_max: float = 1.0) -> MotionSummary:
    """Summary of the path ``c2w (F, 4, 4)`` (first pose the identity) filmed with ``K (F, 3, 3)`` at ``height x
    width``, the nearest surface at ``1 / p_max`` of the path's units."""
    c2w, K = np.asarray(c2w, np.float64), np.asarray(K, np.float64)
    step = np.linalg.inv(c2w[:-1]) @ c2w[1:]
    lengths = np.linalg.norm(step[:, :3, 3], axis=1)
    turns = _angles_deg(step[:, :3, :3]) if len(step) else np.zeros(0)
    depth = 1.0 / p_max
    first = np.broadcast_to(c2w[:1], c2w.shape)
    clip = pixel_motion(first, c2w, np.broadcast_to(K[:1], K.shape), K, depth, height, width)
    frame = pixel_motion(c2w[:-1], c2w[1:], K[:-1], K[1:], depth, height, width)
    max_step = float(lengths.max(initial=0.0))
    return MotionSummary(
        frames=len(c2w), p_max=p_max, rotation_deg=float(_angles_deg(c2w[-1, :3, :3])),
        rotation_path_deg=float(turns.sum()), translation=float(np.linalg.norm(c2w[-1, :3, 3] - c2w[0, :3, 3])),
        path_length=float(lengths.sum()), max_step=max_step, max_step_rotation_deg=float(turns.max(initial=0.0)),
        max_step_model_units=max_step * p_max, max_step_raymap=max_step * p_max * S_RAY,
        clip_pixels=float(clip.max()), max_frame_pixels=float(frame.max(initial=0.0)), width=width)


def format_summary(summary: MotionSummary) -> str:
    """The summary as lines for a terminal."""
    s = summary
    since_first = "past the first frame's nearest surface" if np.isinf(s.clip_pixels) else \
        f"up to {s.clip_pixels:.4g} px from the first frame"
    return "\n".join([
        f"frames: {s.frames}; nearest depth 1/p_max = {1 / s.p_max:.4g} (path units)",
        f"rotation: {s.rotation_deg:.3f} deg first to last, {s.rotation_path_deg:.3f} deg along the path",
        f"translation: {s.translation:.4g} first to last, {s.path_length:.4g} along the path (path units)",
        f"largest step per frame: {s.max_step:.4g} path units = {s.max_step_model_units:.4g} nearest depths "
        f"= {s.max_step_raymap:.4g} raymap units (t * p_max * s_ray, before the log); "
        f"{s.max_step_rotation_deg:.3f} deg",
        f"image motion at the nearest depth: {since_first}, "
        f"{s.max_frame_pixels:.4g} px per frame ({s.width} px wide image)",
    ])
