"""Intrinsics and smooth camera trajectories of the synthetic scenes.

World axes follow the camera convention: x right, y down (gravity), z forward at zero yaw.
A pose is yaw (about world y, positive turns right), pitch (positive looks up) and roll.
"""

from __future__ import annotations

import numpy as np

from aether.annotate.synthetic.config import RenderConfig


def intrinsics(render: RenderConfig, rng: np.random.Generator) -> np.ndarray:
    """Pixel intrinsics ``(3, 3)``: integer pixel centres (docs/FORMATS.md#cameras-and-axes), jittered principal
    point, fy = fx times the render's ``pixel_aspect``."""
    fov = render.fov_deg if render.fov_deg is not None else rng.uniform(50.0, 80.0)
    focal = 0.5 * render.width / np.tan(np.radians(fov) / 2)
    jitter = rng.uniform(-1, 1, 2) * render.principal_jitter * np.array([render.width, render.height])
    cx, cy = (render.width - 1) / 2 + jitter[0], (render.height - 1) / 2 + jitter[1]
    return np.array([[focal, 0, cx], [0, focal * render.pixel_aspect, cy], [0, 0, 1]], np.float64)


def rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """World-from-camera rotations ``(F, 3, 3)`` = R_y(yaw) R_x(pitch) R_z(roll), angles in radians ``(F,)``."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return ry @ rx @ rz


def _wave(rng: np.random.Generator, tau: np.ndarray, amplitude: float) -> np.ndarray:
    """A smooth random oscillation of about ``amplitude`` over times ``tau`` (seconds)."""
    omega, phase = rng.uniform(0.3, 1.2) * 2 * np.pi / 3, rng.uniform(0, 2 * np.pi)
    return amplitude * rng.uniform(0.5, 1.0) * np.sin(omega * tau + phase)


def _smoothstep(s: np.ndarray) -> np.ndarray:
    return s * s * (3 - 2 * s)


def trajectory(motion: str, frames: int, fps: float, rng: np.random.Generator, scale: float = 1.0,
               speed: float = 1.0, rotation_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """Camera-to-world poses ``(F, 4, 4)`` of one ``motion`` kind starting near the world origin, and the
    orbit target ``(3,)`` (None for other motions). ``speed`` is the forward speed scale in m/s,
    ``scale`` multiplies every translation and rotation amplitude, ``rotation_scale`` the angles turned from
    the first orientation (0: pure translation; the path and the random draws stay the same)."""
    tau = np.arange(frames) / fps
    s = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    yaw0 = rng.uniform(-np.pi, np.pi) if motion == "orbit" else rng.uniform(-0.35, 0.35)
    deg = np.radians(scale)
    target = None
    if motion == "orbit":
        radius = rng.uniform(3.0, 6.0)
        sweep = rng.choice([-1, 1]) * rng.uniform(20, 60) * deg
        angle = yaw0 + sweep * _smoothstep(s)
        target = np.array([0.0, rng.uniform(-0.3, 0.6), radius])
        pos = target - radius * np.stack([np.sin(angle), np.zeros_like(angle), np.cos(angle)], -1)
        pos[:, 1] += _wave(rng, tau, 0.15 * scale)
        look = target - pos
        yaw = np.arctan2(look[:, 0], look[:, 2])
        pitch = np.arcsin(-look[:, 1] / np.linalg.norm(look, axis=-1))
    else:
        v = speed * rng.uniform(0.6, 1.4) * scale
        sweep = 0.0
        if motion == "turn":
            sweep, v = rng.choice([-1, 1]) * rng.uniform(20, 60) * deg, 0.5 * v
        elif motion == "mixed":
            sweep = rng.choice([-1, 1]) * rng.uniform(8, 30) * deg
        yaw = yaw0 + sweep * _smoothstep(s) + _wave(rng, tau, 4 * deg)
        pitch = rng.uniform(-0.25, -0.05) + _wave(rng, tau, (8 if motion == "mixed" else 3) * deg)
        heading = yaw0 + sweep * _smoothstep(s)
        step = v / fps * np.stack([np.sin(heading), np.zeros_like(heading), np.cos(heading)], -1)
        pos = np.concatenate([np.zeros((1, 3)), np.cumsum(step[:-1], 0)], 0)
        sway = _wave(rng, tau, 0.2 * scale)
        pos += sway[:, None] * np.stack([np.cos(heading), np.zeros_like(heading), -np.sin(heading)], -1)
        pos[:, 1] += _wave(rng, tau, 0.1 * scale)
    roll = _wave(rng, tau, (4 if motion == "mixed" else 1.5) * deg)
    yaw, pitch, roll = (a[0] + rotation_scale * (a - a[0]) for a in (yaw, pitch, roll))
    c2w = np.tile(np.eye(4), (frames, 1, 1))
    c2w[:, :3, :3] = rotation(yaw, pitch, roll)
    c2w[:, :3, 3] = pos
    return c2w, target
