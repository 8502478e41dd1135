"""Synthetic clips: exact depth and cameras, multi-view consistency, labels, determinism, the CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from aether.annotate.synthetic import CLASSES, DYNAMIC_CLASSES, RenderConfig, SceneConfig, render_clip, write_clips
from aether.annotate.synthetic.textures import fbm, random_texture, value_noise
from aether.core.cli import main
from aether.core.clip import check_c2w, load_clip

TINY = RenderConfig(height=40, width=60, frames=5, fps=12.0)


def _backproject(clip, frame: int) -> np.ndarray:
    """World points ``(H, W, 3)`` of every pixel of ``frame`` from depth, K and c2w."""
    K, c2w = clip.K[frame].astype(np.float64), clip.c2w[frame].astype(np.float64)
    v, u = np.mgrid[0:clip.height, 0:clip.width].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    return (rays * clip.depth[frame][..., None]) @ c2w[:3, :3].T + c2w[:3, 3]


def _label(name: str) -> int:
    return CLASSES.index(name)


@pytest.fixture(scope="module")
def room():
    return render_clip(SceneConfig(seed=3, kind="room", motion="turn", dynamic_objects=2), TINY)


@pytest.fixture(scope="module")
def street():
    return render_clip(SceneConfig(seed=4, kind="street", motion="forward", dynamic_objects=3), TINY)


def test_clip_fields_and_cameras_are_valid(room, street):
    for clip in (room, street):
        clip.validate()
        check_c2w(clip.c2w, "synthetic c2w", tol=1e-5)
        assert clip.rgb.shape == (5, 40, 60, 3) and clip.extras["labels"].shape == (5, 40, 60)
        assert (clip.depth > 0).all(), "every ray must hit something (closed room / sky dome)"
        assert not np.allclose(clip.c2w[0], np.eye(4), atol=1e-3), "first pose is a world pose, not identity"
        K = clip.K[0]
        assert K[0, 0] == K[1, 1] > 0 and np.allclose(clip.K, K)
        assert json.loads(clip.meta["classes"]) == {str(i): name for i, name in enumerate(CLASSES)}
    assert room.depth.max() < 30 and street.depth.max() > 100  # street rays escape to the sky dome


def test_floor_and_wall_pixels_back_project_onto_their_planes():
    room = render_clip(SceneConfig(seed=3, kind="room", motion="turn", dynamic_objects=0, clutter=0), TINY)
    scene = json.loads(room.meta["scene"])
    points = _backproject(room, 2)
    floor = room.extras["labels"][2] == _label("floor")
    assert floor.sum() > 50
    np.testing.assert_allclose(points[floor][:, 1], scene["floor_y"], atol=2e-5 * room.depth[2][floor].max())
    walls = room.extras["labels"][2] == _label("wall")
    assert walls.sum() > 50
    # Each wall pixel lies on one of the four wall planes of the room box.
    lo, hi = np.array(scene["room_min"]), np.array(scene["room_max"])
    gap = np.min(np.abs(np.stack([points[walls][:, 0] - lo[0], points[walls][:, 0] - hi[0],
                                  points[walls][:, 2] - lo[2], points[walls][:, 2] - hi[2]])), 0)
    assert gap.max() < 1e-3


def test_known_floor_point_projects_to_its_pixel_with_its_depth():
    """Cast the ray of one pixel onto the floor by hand, then check the rendered depth and label there."""
    clip = render_clip(SceneConfig(seed=5, kind="room", motion="forward", dynamic_objects=0, clutter=0), TINY)
    floor_y = json.loads(clip.meta["scene"])["floor_y"]
    K, c2w = clip.K[0].astype(np.float64), clip.c2w[0].astype(np.float64)
    u, v = 30, 37  # near the bottom centre: the floor
    direction = c2w[:3, :3] @ np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
    t = (floor_y - c2w[1, 3]) / direction[1]
    point = c2w[:3, 3] + t * direction
    cam = np.linalg.inv(c2w) @ np.append(point, 1.0)
    assert np.allclose(K @ (cam[:3] / cam[2]), [u, v, 1.0], atol=1e-9)
    assert clip.extras["labels"][0, v, u] == _label("floor")
    assert clip.depth[0, v, u] == pytest.approx(cam[2], rel=1e-6)


def test_sphere_pixels_lie_on_their_sphere():
    clip = render_clip(SceneConfig(seed=0, kind="room", dynamic_objects=0, clutter=12), TINY)
    spheres = [o for o in json.loads(clip.meta["scene"])["objects"] if o["shape"] == "sphere"]
    points = np.concatenate([_backproject(clip, f)[clip.extras["labels"][f] == _label("object")] for f in range(5)])
    centres = np.array([o["center"] for o in spheres])
    radii = np.array([o["size"][0] / 2 for o in spheres])
    gap = np.abs(np.linalg.norm(points[:, None] - centres[None], axis=-1) - radii).min(-1)
    assert len(points) > 100 and gap.max() < 2e-3  # centres are stored rounded to 1 mm


@pytest.mark.parametrize("kind", ["room", "street"])
def test_static_pixels_reproject_between_frames_with_same_colour(kind):
    clip = render_clip(SceneConfig(seed=1, kind=kind, motion="mixed", dynamic_objects=0),
                       RenderConfig(height=60, width=90, frames=6))
    a, b = 0, 5
    w2c = np.linalg.inv(clip.c2w[b].astype(np.float64))
    cam = _backproject(clip, a) @ w2c[:3, :3].T + w2c[:3, 3]
    K = clip.K[b].astype(np.float64)
    ub = (K[0, 0] * cam[..., 0] / cam[..., 2] + K[0, 2]).astype(np.float32)
    vb = (K[1, 1] * cam[..., 1] / cam[..., 2] + K[1, 2]).astype(np.float32)
    depth_b = cv2.remap(clip.depth[b], ub, vb, cv2.INTER_LINEAR, borderValue=0)
    rgb_b = cv2.remap(clip.rgb[b], ub, vb, cv2.INTER_LINEAR, borderValue=0).astype(np.float64)
    visible = (ub > 0) & (ub < clip.width - 1) & (vb > 0) & (vb < clip.height - 1) \
        & (np.abs(depth_b - cam[..., 2]) < 0.01 * cam[..., 2])
    assert visible.mean() > 0.3
    diff = np.abs(rgb_b - clip.rgb[a]).mean(-1)[visible]
    assert np.median(diff) < 2.0 and np.percentile(diff, 90) < 15.0


def test_the_camera_really_moves_and_turns():
    clip = render_clip(SceneConfig(seed=2, kind="room", motion="turn"), RenderConfig(height=8, width=8, frames=41))
    rel = np.linalg.inv(clip.c2w[0].astype(np.float64)) @ clip.c2w[-1].astype(np.float64)
    angle = np.degrees(np.arccos(np.clip((np.trace(rel[:3, :3]) - 1) / 2, -1, 1)))
    assert 10 < angle < 90 and np.linalg.norm(rel[:3, 3]) > 0.3


def test_dynamic_mask_is_the_pixels_of_dynamic_classes(room, street):
    dynamic_ids = [CLASSES.index(name) for name in DYNAMIC_CLASSES]
    assert json.loads(street.meta["dynamic_classes"]) == list(DYNAMIC_CLASSES)
    for clip in (room, street):
        np.testing.assert_array_equal(clip.dynamic_mask, np.isin(clip.extras["labels"], dynamic_ids))
    assert street.dynamic_mask.any()
    still = render_clip(SceneConfig(seed=4, kind="street", motion="forward", dynamic_objects=0), TINY)
    assert not still.dynamic_mask.any()


def test_rendering_is_deterministic_per_seed(room):
    again = render_clip(SceneConfig(seed=3, kind="room", motion="turn", dynamic_objects=2), TINY)
    for name in ("rgb", "depth", "K", "c2w", "dynamic_mask"):
        np.testing.assert_array_equal(getattr(again, name), getattr(room, name))
    assert again.meta == room.meta
    other = render_clip(SceneConfig(seed=4, kind="room", motion="turn", dynamic_objects=2), TINY)
    assert not np.array_equal(other.rgb, room.rgb)


def test_flat_textures_and_dark_lighting():
    flat = render_clip(SceneConfig(seed=6, kind="room", texture_contrast=0.0, dynamic_objects=0), TINY)
    floor = flat.rgb[0][flat.extras["labels"][0] == _label("floor")]
    assert len(floor) and np.ptp(floor.astype(int), axis=0).max() <= 1  # one colour under one light
    dark = render_clip(SceneConfig(seed=6, kind="room", lighting="dark"), TINY)
    assert dark.rgb.mean() < 15 < flat.rgb.mean()


def test_noise_known_values():
    u = np.array([0.0, 3.0, 7.0])
    np.testing.assert_array_equal(value_noise(u, u, 1), value_noise(u, u, 1))
    assert ((value_noise(u + 0.37, u, 1) >= 0) & (value_noise(u + 0.37, u, 1) <= 1)).all()
    # Octaves finer than two pixel footprints fade out entirely: a far surface gets no noise.
    assert np.all(fbm(u, u, np.full(3, 10.0), 1, wavelength=1.0, octaves=4) == 0)
    texture = random_texture(np.random.default_rng(0), ("checker",), contrast=0.0)
    flat = texture(np.random.default_rng(1).random((10, 2)), np.full(10, 1e-3))
    np.testing.assert_allclose(flat, np.tile(texture.colours.mean(0), (10, 1)))


def test_write_clips_resumes_and_cli(tmp_path):
    paths = write_clips(tmp_path, 2, seed=7, render=RenderConfig(height=16, width=24, frames=3), progress=False)
    stamp = paths[0].stat().st_mtime_ns
    assert main(["synth", "--out", str(tmp_path), "--clips", "3", "--seed", "7", "--frames", "3",
                 "--height", "16", "--width", "24"]) == 0
    assert paths[0].stat().st_mtime_ns == stamp  # finished clips are skipped
    third = load_clip(tmp_path / "clip_0002.safetensors")
    assert third.num_frames == 3 and "labels" in third.extras
    assert json.loads(third.meta["scene"])["seed"] == 9
    assert main(["synth", "--out", str(tmp_path), "--height", "4"]) == 2
    assert main(["synth", "--out", str(tmp_path), "--clips", "-1"]) == 2
    with pytest.raises(ValueError, match="dynamic_objects"):
        write_clips(tmp_path / "new", 1, progress=False, dynamic_objects=-1)
