"""Everything a task writes for its user, each file atomically, plus a manifest listing them.

For ``name = "result"`` in ``out_dir``:

=========================  ==============================================================
``result_rgb.mp4``         colour video (F frames at the result's fps)
``result_disparity.mp4``   disparity in [0, 1] through a matplotlib colormap
``result_depth.npy``       depth (F, H, W) float32
``result_trajectory.txt``  cameras as a TUM trajectory (timestamp = frame / fps, c2w)
``result_intrinsics.json`` image size, fps and K (F, 3, 3) in pixels
``result_points.ply``      coloured point cloud, world = first camera, OpenCV axes
``result_scene.glb``       the same points (but the farthest) plus camera frusta (lines), in glTF's y-up
``result_trajectory.png``  top-down and side views of the camera centres (+ ground truth)
``result.json``            the manifest: relative paths, shapes and frame counts
=========================  ==============================================================

Rewriting a result replaces the old one as a whole: every file is first written to the staging folder
``.result.commit``, which is then moved into place, manifest last, after the old manifest is deleted.
A crash before the move leaves the old result; one during it leaves no manifest, and
:func:`prepare_output_dir` (which every writer calls first) finishes the move: the new result.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aether.core.atomic import atomic_dir, atomic_path, write_array, write_json
from aether.core.clip import check_c2w
from aether.core.errors import AetherError
from aether.core.media import write_video
from aether.tasks.result import TaskResult

OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0, 1.0])  # x right, y down, z forward -> y up, z backward
FRUSTUM_EDGES = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (2, 3), (3, 4), (4, 1)]  # apex 0, corners 1-4


class OutputError(AetherError, ValueError):
    """A task result that cannot be written (inconsistent shapes or values)."""


class OutputConfig(BaseModel):
    """What goes into the point cloud and the scene."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_points: int = Field(200_000, ge=1, description="points kept (random subset) in PLY and GLB")
    max_frusta: int = Field(25, ge=1, description="camera frusta drawn in the GLB (evenly spaced frames)")
    frustum_depth: float = Field(0.1, gt=0, description="frustum length as a share of the median depth")
    scene_depth: float = Field(20.0, gt=0, description="GLB only: points deeper than this many median depths are "
                               "left out (the PLY keeps them): a few near the disparity floor, hundreds of "
                               "times deeper than the scene, make a viewer zoom out until the scene vanishes")
    colormap: str = Field("Spectral", description="matplotlib colormap for the disparity video")
    seed: int = 0


def _check_result(result: TaskResult) -> None:
    f, h, w = np.shape(result.depth)
    expected = {"rgb": (f, h, w, 3), "disparity": (f, h, w), "c2w": (f, 4, 4), "K": (f, 3, 3)}
    for field, shape in expected.items():
        if np.shape(getattr(result, field)) != shape:
            raise OutputError(f"result field {field!r} has shape {np.shape(getattr(result, field))}; "
                              f"expected {shape} to match depth {(f, h, w)}")
    if not (np.isfinite(result.depth).all() and np.isfinite(result.K).all()):
        raise OutputError("result depth or intrinsics hold non-finite values; nothing was written")
    check_c2w(result.c2w, "result field 'c2w'")


def _check_ground_truth(gt_c2w: np.ndarray, c2w: np.ndarray) -> None:
    if np.shape(gt_c2w) != np.shape(c2w):
        raise OutputError(f"ground-truth poses {np.shape(gt_c2w)} do not match the estimate's "
                          f"{np.shape(c2w)}; pass one (4, 4) pose per frame")


def colorize(values: np.ndarray, colormap: str = "Spectral") -> np.ndarray:
    """Map ``values (...)`` in [0, 1] to uint8 RGB ``(..., 3)`` with a matplotlib colormap."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise OutputError(f"unknown matplotlib colormap {colormap!r}; try Spectral, turbo or viridis") \
            from None
    return (cmap(np.clip(values, 0.0, 1.0))[..., :3] * 255).round().astype(np.uint8)


def point_cloud(result: TaskResult, max_points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points ``(N, 3)`` float32 (world = first camera), their uint8 colours ``(N, 3)`` and depths ``(N,)`` from
    every valid depth pixel, a random subset of at most ``max_points`` in frame-major raster order."""
    import torch

    from aether.codecs.pointmap import pointmap

    depth = np.asarray(result.depth)
    flat = np.flatnonzero(depth > 0)
    if len(flat) > max_points:
        flat = np.sort(np.random.default_rng(seed).choice(flat, max_points, replace=False))
    frame_of = flat // depth[0].size
    points = np.empty((len(flat), 3), np.float32)
    for f in np.unique(frame_of):  # one frame at a time: a whole clip's pointmap can be gigabytes
        pick = frame_of == f
        frame = pointmap(*(torch.from_numpy(np.asarray(a[f:f + 1], np.float64))[None]
                           for a in (depth, result.c2w, result.K)))[0, 0].numpy()
        points[pick] = frame.reshape(-1, 3)[flat[pick] % depth[0].size]
    return points, np.asarray(result.rgb).reshape(-1, 3)[flat], depth.reshape(-1)[flat]


def median_depth(depth: np.ndarray) -> float:
    """The median of the valid (> 0) pixels of ``depth``, 1 where there are none: the scene's scale."""
    valid = depth[depth > 0]
    return float(np.median(valid)) if valid.size else 1.0


def in_scene(point_depth: np.ndarray, median: float, scene_depth: float) -> np.ndarray:
    """Mask of the points (depths ``point_depth (N,)``) no deeper than ``scene_depth`` times ``median``, the
    result's :func:`median_depth`: what a 3-D view shows (:attr:`OutputConfig.scene_depth`)."""
    return point_depth <= scene_depth * median


def camera_frusta(c2w: np.ndarray, K: np.ndarray, height: int, width: int, depth: float) -> np.ndarray:
    """Line segments ``(F * 8, 2, 3)`` drawing each camera as a pyramid ``depth`` long."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], np.float64)
    rays = np.einsum("fij,cj->fci", np.linalg.inv(K), corners) * depth          # (F, 4, 3) camera frame
    local = np.concatenate([np.zeros((len(K), 1, 3)), rays], axis=1)            # (F, 5, 3) apex first
    world = np.einsum("fij,fcj->fci", c2w[:, :3, :3], local) + c2w[:, None, :3, 3]
    return np.concatenate([world[:, list(edge)] for edge in FRUSTUM_EDGES], axis=0)


def _write_glb(path: Path, points: np.ndarray, colours: np.ndarray, segments: np.ndarray) -> None:
    import trimesh

    scene = trimesh.Scene()
    scene.add_geometry(trimesh.PointCloud(points, colors=colours), geom_name="points")
    scene.add_geometry(trimesh.load_path(segments), geom_name="cameras")
    scene.apply_transform(OPENCV_TO_GLTF)
    with atomic_path(path) as tmp:
        tmp.write_bytes(scene.export(file_type="glb"))


def _write_ply(path: Path, points: np.ndarray, colours: np.ndarray) -> None:
    import trimesh

    with atomic_path(path) as tmp:
        tmp.write_bytes(trimesh.PointCloud(points, colors=colours).export(file_type="ply"))


def plot_trajectory(path: str | os.PathLike, c2w: np.ndarray, gt_c2w: np.ndarray | None = None) -> Path:
    """PNG of camera centres: top-down (x, z) and side (z, height = -y) views. A ground truth
    ``(F, 4, 4)`` is drawn too, with the estimate Sim(3)-aligned onto it."""
    from matplotlib.figure import Figure

    tracks = {"estimate": np.asarray(c2w, np.float64)}
    if gt_c2w is not None:
        from aether.codecs.trajectory import align_trajectory

        gt = np.asarray(gt_c2w, np.float64)
        _check_ground_truth(gt, tracks["estimate"])
        tracks = {"estimate (Sim(3) aligned)": align_trajectory(tracks["estimate"], gt, "sim3"),
                  "ground truth": gt}
    fig = Figure(figsize=(10, 4.5), dpi=100)
    views = [("top-down", 0, 2, 1, "x (right)", "z (forward)"),
             ("side", 2, 1, -1, "z (forward)", "height (-y)")]
    for k, (title, a, b, sign_b, xlabel, ylabel) in enumerate(views):
        ax = fig.add_subplot(1, 2, k + 1)
        for label, track in tracks.items():
            centres = track[:, :3, 3]
            ax.plot(centres[:, a], sign_b * centres[:, b], "-o", markersize=2, label=label)
            ax.plot(centres[0, a], sign_b * centres[0, b], "k*", markersize=8)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel, aspect="equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def output_files(name: str) -> dict[str, str]:
    """The files of result ``name`` (besides its manifest ``{name}.json``) by manifest key."""
    return {key: f"{name}_{suffix}" for key, suffix in [
        ("rgb_video", "rgb.mp4"), ("disparity_video", "disparity.mp4"), ("depth", "depth.npy"),
        ("trajectory_tum", "trajectory.txt"), ("intrinsics", "intrinsics.json"), ("points_ply", "points.ply"),
        ("scene_glb", "scene.glb"), ("trajectory_plot", "trajectory.png")]}


def _staging(out_dir: Path, name: str) -> Path:
    return out_dir / f".{name}.commit"


def _publish(out_dir: Path, name: str) -> None:
    """Move a complete staged result into ``out_dir``: delete the old manifest, move the files, then the
    new manifest. Safe to repeat after a crash part way through (files already moved are not staged)."""
    staging, manifest = _staging(out_dir, name), f"{name}.json"
    if not staging.is_dir():
        return
    if (staging / manifest).exists():
        (out_dir / manifest).unlink(missing_ok=True)  # no manifest may describe a half-replaced result
    for file in sorted(staging.iterdir(), key=lambda f: f.name == manifest):
        os.replace(file, out_dir / file.name)
    staging.rmdir()


def prepare_output_dir(out_dir: str | os.PathLike, name: str = "result") -> Path:
    """Check, before any work, that result ``name`` can be written into ``out_dir`` (created if missing);
    finish a move an earlier writer was killed in and drop its unfinished staging folders."""
    out_dir = Path(out_dir)
    if not name or name.startswith(".") or Path(name).name != name:
        raise OutputError(f"output name {name!r} must be a plain file name (no folders, not hidden)")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file; the output must go to a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=out_dir):  # fails now, not after the work, on a read-only folder
            pass
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write there ({exc.strerror or exc}); choose another folder") from None
    for file in [*output_files(name).values(), f"{name}.json"]:
        if (out_dir / file).is_dir():
            raise OutputError(f"{out_dir / file} is a folder; move it away so the result can be written")
    _publish(out_dir, name)
    # atomic_dir's temporaries: a writer killed while staging
    for stale in out_dir.glob(glob.escape(f".{_staging(out_dir, name).name}.") + "????????.tmp"):
        shutil.rmtree(stale)
    return out_dir


def write_outputs(result: TaskResult, out_dir: str | os.PathLike, name: str = "result",
                  gt_c2w: np.ndarray | None = None, config: OutputConfig | None = None) -> dict[str, Any]:
    """Write every output of ``result`` into ``out_dir``, replacing an earlier result ``name`` as a whole;
    return (and write as ``{name}.json``) the manifest: relative file paths, array shapes and frame counts."""
    config = config or OutputConfig()
    _check_result(result)
    if gt_c2w is not None:
        _check_ground_truth(gt_c2w, result.c2w)
    out_dir = prepare_output_dir(out_dir, name)
    with atomic_dir(_staging(out_dir, name)) as staging:
        manifest = _write_files(result, staging, name, gt_c2w, config)
    _publish(out_dir, name)
    return manifest


def _write_files(result: TaskResult, folder: Path, name: str, gt_c2w: np.ndarray | None,
                 config: OutputConfig) -> dict[str, Any]:
    """Write the outputs and the manifest of ``result`` into ``folder``; return the manifest."""
    from aether.codecs.cameras import write_tum

    depth = np.asarray(result.depth, np.float32)
    c2w, K = np.asarray(result.c2w, np.float64), np.asarray(result.K, np.float64)
    num_frames, height, width = depth.shape
    files = output_files(name)
    path = {key: folder / rel for key, rel in files.items()}

    write_video(path["rgb_video"], np.asarray(result.rgb), result.fps)
    write_video(path["disparity_video"], colorize(np.asarray(result.disparity), config.colormap), result.fps)
    write_array(path["depth"], depth)
    write_tum(path["trajectory_tum"], np.arange(num_frames) / float(result.fps), c2w)  # atomic itself
    write_json(path["intrinsics"], {"width": width, "height": height, "fps": float(result.fps),
                                    "K": K.tolist()})
    points, colours, point_depth = point_cloud(result, config.max_points, config.seed)
    _write_ply(path["points_ply"], points, colours)
    shown = np.unique(np.linspace(0, num_frames - 1, min(config.max_frusta, num_frames)).round().astype(int))
    median = median_depth(depth)  # one median of the whole clip: the frusta's size and the scene's extent
    frusta = camera_frusta(c2w[shown], K[shown], height, width, config.frustum_depth * median)
    near = in_scene(point_depth, median, config.scene_depth)
    _write_glb(path["scene_glb"], points[near], colours[near], frusta)
    plot_trajectory(path["trajectory_plot"], c2w, gt_c2w)

    manifest = {
        "task": result.task, "name": name, "fps": float(result.fps),
        "num_frames": num_frames, "height": height, "width": width,
        "files": files,
        "shapes": {"rgb": [num_frames, height, width, 3], "depth": list(depth.shape),
                   "disparity": list(depth.shape), "c2w": [num_frames, 4, 4], "K": [num_frames, 3, 3],
                   "points": list(points.shape), "frusta": len(shown)},
        "frames": {"rgb_video": num_frames, "disparity_video": num_frames, "trajectory_tum": num_frames},
    }
    write_json(folder / f"{name}.json", manifest)
    return manifest
