"""Camera paths from the files people have, in our one convention: camera-to-world, OpenCV axes
(x right, y down, z forward), first pose the identity (docs/FORMATS.md#raymap-codec). See docs/CAMERAS.md.

Formats (``fmt``): ``tum``, ``colmap`` (model folder, text or binary), ``nerf`` (``transforms.json``),
``kitti`` (12 numbers a line), ``npy`` (c2w ``(F, 4, 4)``, OpenCV axes), ``opengl-c2w`` (the same with
OpenGL / Blender axes), or ``auto`` (told apart by the path).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aether.core.errors import AetherError

FORMATS = ("auto", "tum", "colmap", "nerf", "kitti", "npy", "opengl-c2w")


class CameraPathError(AetherError, ValueError):
    """A camera file that cannot be read as a path."""


@dataclass(frozen=True)
class CameraPath:
    """``c2w (F, 4, 4)`` float64 in our convention; ``K (F, 3, 3)`` pixels of images of ``size`` ``(H, W)``
    when the file holds intrinsics (COLMAP, NeRF), else None; ``timestamps (F,)`` seconds or None."""

    c2w: np.ndarray
    K: np.ndarray | None = None
    size: tuple[int, int] | None = None
    timestamps: np.ndarray | None = None


def detect_format(path: Path) -> str:
    """The format of ``path`` by its kind: a COLMAP model folder, a ``.json``, a ``.npy``, else a text file
    told apart by its numbers per line (8 TUM, 12 KITTI)."""
    from aether.codecs.camera_formats import colmap_model_folder

    if path.is_dir():
        if colmap_model_folder(path) is not None:
            return "colmap"
        if (path / "transforms.json").is_file():
            return "nerf"
        raise CameraPathError(f"{path}: a folder with neither a COLMAP model nor a transforms.json")
    if path.suffix.lower() == ".json":
        return "nerf"
    if path.suffix.lower() == ".npy":
        return "npy"
    from aether.codecs.cameras import read_text_file

    text = read_text_file(path, "a TUM or KITTI text file, a .npy, a .json or a COLMAP folder")
    first = next((line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), [])
    widths = {8: "tum", 12: "kitti"}
    if len(first) not in widths:
        raise CameraPathError(f"{path}: cannot tell its format ({len(first)} numbers on the first line); pass --from")
    return widths[len(first)]


def _relative(c2w: np.ndarray, where: str) -> np.ndarray:
    """``c2w (F, 4, 4)``, checked to be finite rigid poses, relative to the first."""
    from aether.codecs.cameras import relative_to_first
    from aether.core.clip import check_c2w

    c2w = np.asarray(c2w, np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or not len(c2w):
        raise CameraPathError(f"{where}: need camera poses (F, 4, 4), got {c2w.shape}")
    check_c2w(c2w, where)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        relative = relative_to_first(c2w)
    if not np.isfinite(relative).all():  # translations near 1e308 overflow when made relative
        raise CameraPathError(f"{where}: camera positions too large (up to {np.abs(c2w[:, :3, 3]).max():.3g}) to "
                              "make relative to the first; rescale the path")
    return relative


def read_camera_path(path: str | os.PathLike, fmt: str = "auto") -> CameraPath:
    """The camera path in ``path`` (``fmt`` one of :data:`FORMATS`), first pose the identity."""
    path = Path(path)
    if fmt not in FORMATS:
        raise CameraPathError(f"unknown camera format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise CameraPathError(f"{path}: no such file or folder")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt in ("colmap", "nerf"):
        from aether.codecs.camera_formats import read_colmap, read_nerf

        tool = (read_colmap if fmt == "colmap" else read_nerf)(path)
        if len({tuple(s) for s in tool.sizes}) != 1:
            raise CameraPathError(f"{path}: images of different sizes; one clip needs one image size")
        return CameraPath(_relative(tool.c2w, str(path)), tool.K, tuple(int(v) for v in tool.sizes[0]))
    if fmt == "tum":
        from aether.codecs.cameras import read_tum

        timestamps, c2w = read_tum(path)
        # frames are taken in file order: a timestamp that repeats or goes back is a damaged or shuffled file
        back = np.flatnonzero(np.diff(timestamps) <= 0)
        if len(back):
            i = int(back[0])
            raise CameraPathError(f"{path}: timestamps must increase, but pose {i + 2} ({timestamps[i + 1]:.9g} s) "
                                  f"follows pose {i + 1} ({timestamps[i]:.9g} s); sort the lines by time and drop "
                                  "repeated poses")
        return CameraPath(_relative(c2w, str(path)), timestamps=timestamps)
    if fmt in ("kitti", "npy") and path.is_file() and detect_format(path) != fmt:  # the reader goes by the content
        raise CameraPathError(f"{path}: --from {fmt}, but the file reads as {detect_format(path)} "
                              f"({'12 numbers a line' if fmt == 'kitti' else 'a .npy array'} expected); pass its "
                              "own format or --from auto")
    from aether.tasks.evaluation.trajectory_files import read_trajectory  # KITTI and .npy readers

    c2w = read_trajectory(path).c2w
    if fmt == "opengl-c2w":
        from aether.codecs.cameras import opengl_to_opencv

        c2w = opengl_to_opencv(c2w)
    return CameraPath(_relative(c2w, str(path)))


def model_intrinsics(camera_path: CameraPath, height: int, width: int, fov_deg: float | None = None,
                     K: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """``(F, 3, 3)`` intrinsics at the model's ``height x width``: ``K`` (fx, fy, cx, cy at that size), else a
    horizontal field of view ``fov_deg``, else the file's own intrinsics mapped as the pipeline maps its
    images (resized to cover, centre-cropped), else 60 degrees."""
    from aether.codecs.frames import fit_intrinsics
    from aether.tasks.pipeline import DEFAULT_FOV_DEG, default_intrinsics

    frames = len(camera_path.c2w)
    if K is not None:
        fx, fy, cx, cy = K
        if not (fx > 0 and fy > 0 and all(map(math.isfinite, K))):
            raise CameraPathError(f"--K needs positive finite fx, fy and finite cx, cy; got {K}")
        return np.tile(np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), (frames, 1, 1))
    if fov_deg is not None or camera_path.K is None:
        return default_intrinsics(frames, height, width, DEFAULT_FOV_DEG if fov_deg is None else fov_deg)
    return fit_intrinsics(camera_path.K, *camera_path.size, height, width)
