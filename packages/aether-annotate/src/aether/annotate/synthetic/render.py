"""Render a synthetic scene to a :class:`~aether.core.clip.Clip` with exact depth, cameras and labels."""

from __future__ import annotations

import json

import numpy as np

from aether.annotate.synthetic.cameras import intrinsics, trajectory
from aether.annotate.synthetic.config import EXPOSURE, RenderConfig, SceneConfig
from aether.annotate.synthetic.geometry import CUBE_EDGES
from aether.annotate.synthetic.scenes import BUILDERS, CLASSES, DYNAMIC_CLASSES, LABEL, Layout, describe
from aether.core.clip import Clip

_NEAR = 0.05
_SPEED = {"room": 1.0, "street": 2.5}  # forward speed scale, m/s


def pixel_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """Camera-frame rays ``(H, W, 3)`` ``((u - cx)/fx, (v - cy)/fy, 1)`` at integer pixel coordinates."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)


def _screen_rect(corners: np.ndarray | None, c2w: np.ndarray, K: np.ndarray, height: int, width: int):
    """Pixel rectangle ``(v0, v1, u0, u1)`` that bounds the part of a primitive's bounding box in front
    of the near plane (box ``corners (8, 3)``), the whole image when unbounded, None when not in view."""
    if corners is None:
        return 0, height, 0, width
    cam = (corners - c2w[:3, 3]) @ c2w[:3, :3]
    front = cam[:, 2] > _NEAR
    if not front.any():
        return None
    if not front.all():
        # Clip the box by the near plane: keep corners in front plus the points where edges cross it.
        a, b = cam[CUBE_EDGES[:, 0]], cam[CUBE_EDGES[:, 1]]
        crossing = front[CUBE_EDGES[:, 0]] != front[CUBE_EDGES[:, 1]]
        a, b = a[crossing], b[crossing]
        cam = np.concatenate([cam[front], a + (b - a) * ((_NEAR - a[:, 2]) / (b[:, 2] - a[:, 2]))[:, None]])
    z = cam[:, 2]
    u = K[0, 0] * cam[:, 0] / z + K[0, 2]
    v = K[1, 1] * cam[:, 1] / z + K[1, 2]
    u0, u1 = max(int(np.floor(u.min())), 0), min(int(np.ceil(u.max())) + 1, width)
    v0, v1 = max(int(np.floor(v.min())), 0), min(int(np.ceil(v.max())) + 1, height)
    return (v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None


def render_frame(prims: list, layout: Layout, c2w: np.ndarray, K: np.ndarray, rays: np.ndarray,
                 exposure: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-hit ray casting of ``prims`` seen by camera ``c2w (4, 4)``, ``K (3, 3)``.

    Returns rgb ``(H, W, 3)`` uint8, z-depth ``(H, W)`` float32 metres (0 where nothing is hit) and
    labels ``(H, W)`` uint8.
    """
    height, width = rays.shape[:2]
    origin = c2w[:3, 3]
    dirs = rays @ c2w[:3, :3].T
    depth = np.full((height, width), np.inf)
    ids = np.full((height, width), -1, np.int64)
    for i, prim in enumerate(prims):
        rect = _screen_rect(prim.corners(), c2w, K, height, width)
        if rect is None:
            continue
        window = (slice(rect[0], rect[1]), slice(rect[2], rect[3]))
        t = prim.intersect(origin, dirs[window])
        closer = t < depth[window]
        depth[window] = np.where(closer, t, depth[window])
        ids[window] = np.where(closer, i, ids[window])
    rgb = np.zeros((height * width, 3))
    labels = np.zeros(height * width, np.uint8)
    flat_ids, flat_depth, flat_dirs = ids.ravel(), depth.ravel(), dirs.reshape(-1, 3)
    for i in np.unique(flat_ids[flat_ids >= 0]):
        prim, where = prims[i], np.flatnonzero(flat_ids == i)
        d, t = flat_dirs[where], flat_depth[where]
        uv, normal, face = prim.surface(origin + t[:, None] * d, d)
        # Metres per pixel at the hit, stretched on surfaces seen at a grazing angle.
        cos = np.abs((normal * d).sum(-1)) / np.linalg.norm(d, axis=-1)
        albedo = prim.texture(uv, t / K[0, 0] / np.maximum(cos, 0.1), face)
        shade = 1.0 if prim.emissive else layout.ambient + layout.sun * np.maximum(normal @ layout.light, 0)[:, None]
        rgb[where] = albedo * shade * exposure
        labels[where] = prim.label
    rgb = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8).reshape(height, width, 3)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    return rgb, depth, labels.reshape(height, width)


def render_clip(scene: SceneConfig | int = 0, render: RenderConfig | None = None) -> Clip:
    """Render one synthetic clip; ``scene`` is a :class:`SceneConfig` or just a seed (other fields default).

    The clip holds rgb ``(F, H, W, 3)`` uint8, depth ``(F, H, W)`` float32 z-depth in metres (> 0 on
    every pixel), K ``(F, 3, 3)``, c2w ``(F, 4, 4)`` (OpenCV axes, world = scene frame, first pose not
    the identity), dynamic_mask ``(F, H, W)`` uint8 (pixels of moving objects), ``extras["labels"]``
    ``(F, H, W)`` uint8 class ids, meta ``classes`` (JSON id -> name), ``dynamic_classes`` (JSON list)
    and ``scene`` (JSON description). Deterministic per seed.
    """
    scene = SceneConfig(seed=scene) if isinstance(scene, int) else scene
    render = render or RenderConfig()
    rng = np.random.default_rng(scene.seed)
    K = intrinsics(render, rng)
    c2w, target = trajectory(scene.motion, render.frames, render.fps, rng, scene.motion_scale, _SPEED[scene.kind],
                             scene.rotation_scale)
    layout = BUILDERS[scene.kind](scene, rng, c2w, render.fps, target)
    rays = pixel_rays(K, render.height, render.width)
    exposure = EXPOSURE[scene.lighting]
    frames = [render_frame(layout.static + [m.at(f / render.fps) for m in layout.movers], layout, pose, K, rays,
                           exposure) for f, pose in enumerate(c2w)]
    rgb, depth, labels = (np.stack(x) for x in zip(*frames))
    dynamic = np.isin(labels, [LABEL[name] for name in DYNAMIC_CLASSES]).astype(np.uint8)
    summary = {**scene.model_dump(mode="json"), **layout.summary, "light": layout.light.round(4).tolist(),
               "ambient": layout.ambient, "sun": layout.sun, "exposure": exposure,
               "orbit_target": None if target is None else target.round(4).tolist(), "objects": describe(layout)}
    return Clip(rgb=rgb, fps=render.fps, depth=depth, K=np.repeat(K[None], render.frames, 0).astype(np.float32),
                c2w=c2w.astype(np.float32), dynamic_mask=dynamic, source=f"synthetic-{scene.kind}-{scene.seed}",
                extras={"labels": labels},
                meta={"classes": json.dumps({str(i): name for i, name in enumerate(CLASSES)}),
                      "dynamic_classes": json.dumps(list(DYNAMIC_CLASSES)), "scene": json.dumps(summary)}).validate()
