"""Readers of the camera files other tools write: COLMAP models (text or binary) and NeRF / Blender
``transforms.json``. Each returns :class:`ToolCameras` in our conventions (c2w, OpenCV axes,
docs/FORMATS.md#cameras-and-axes
pixel coordinates) but still in the tool's world frame; making the first pose the identity is the
caller's choice (:func:`aether.codecs.cameras.relative_to_first`).

- COLMAP stores world-to-camera poses as ``QW QX QY QZ TX TY TZ`` with OpenCV axes, and places the
  centre of the top-left pixel at (0.5, 0.5); ours is at (0, 0), so ``c = c_colmap - 0.5``.
  Distortion parameters are dropped (the pinhole part is kept). Images come in name order.
- NeRF / Blender store c2w with OpenGL axes (y up, z backward); intrinsics from ``fl_x`` / ``fl_y`` /
  ``cx`` / ``cy`` (instant-ngp, nerfstudio) or ``camera_angle_x`` (the original Blender scenes: centred
  principal point at ``W / 2``, square pixels), at top level or per frame.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aether.codecs.cameras import invert_pose, opengl_to_opencv, quaternion_to_matrix
from aether.codecs.errors import CodecError


@dataclass(frozen=True)
class ToolCameras:
    """``c2w (N, 4, 4)`` float64 OpenCV camera-to-world in the tool's world, ``K (N, 3, 3)`` float64 in
    pixels (our pixel coordinates: docs/FORMATS.md#cameras-and-axes), ``sizes (N, 2)`` image ``(height, width)``,
    ``names`` per frame."""

    c2w: np.ndarray
    K: np.ndarray
    sizes: np.ndarray
    names: tuple[str, ...]


# COLMAP camera models: id -> (name, parameter count, one shared focal). fx, fy, cx, cy (or f, cx, cy)
# lead every model's parameters; the rest are distortion terms.
COLMAP_MODELS = {
    0: ("SIMPLE_PINHOLE", 3, True), 1: ("PINHOLE", 4, False), 2: ("SIMPLE_RADIAL", 4, True),
    3: ("RADIAL", 5, True), 4: ("OPENCV", 8, False), 5: ("OPENCV_FISHEYE", 8, False),
    6: ("FULL_OPENCV", 12, False), 7: ("FOV", 5, False), 8: ("SIMPLE_RADIAL_FISHEYE", 4, True),
    9: ("RADIAL_FISHEYE", 5, True), 10: ("THIN_PRISM_FISHEYE", 12, False),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16, False),
}
_MODEL_BY_NAME = {name: (count, single) for name, count, single in COLMAP_MODELS.values()}
COLMAP_PIXEL_OFFSET = 0.5  # COLMAP's top-left pixel centre is (0.5, 0.5); ours is (0, 0)


def _colmap_K(model: str, params: np.ndarray, where: str) -> np.ndarray:
    if model not in _MODEL_BY_NAME:
        raise CodecError(f"{where}: unknown COLMAP camera model {model!r}")
    count, single = _MODEL_BY_NAME[model]
    if len(params) != count:
        raise CodecError(f"{where}: a {model} camera has {count} parameters, found {len(params)}")
    fx, fy, cx, cy = (params[0], params[0], params[1], params[2]) if single else params[:4]
    return np.array([[fx, 0.0, cx - COLMAP_PIXEL_OFFSET], [0.0, fy, cy - COLMAP_PIXEL_OFFSET], [0.0, 0.0, 1.0]])


def _data_lines(path: Path) -> list[str]:
    """Lines that are not ``#`` comments. Blank lines are kept: an image with no 2-D points has an empty
    second line in ``images.txt``."""
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def _read_text_model(folder: Path) -> tuple[dict, list]:
    cameras = {}
    for line in _data_lines(folder / "cameras.txt"):
        if line.strip():
            fields = line.split()
            cameras[int(fields[0])] = (fields[1], int(fields[2]), int(fields[3]), np.asarray(fields[4:], np.float64))
    lines = _data_lines(folder / "images.txt")
    while lines and not lines[-1].strip():
        lines.pop()
    images = []
    for line in lines[::2]:  # every image line is followed by its POINTS2D line
        fields = line.split()
        if len(fields) < 10:
            raise CodecError(f"{folder / 'images.txt'}: an image line holds 'IMAGE_ID QW QX QY QZ TX TY TZ "
                             f"CAMERA_ID NAME', got {line!r}")
        images.append((np.asarray(fields[1:8], np.float64), int(fields[8]), " ".join(fields[9:])))
    return cameras, images


def _read_binary_model(folder: Path) -> tuple[dict, list]:
    cameras = {}
    with open(folder / "cameras.bin", "rb") as handle:
        for _ in range(struct.unpack("<Q", handle.read(8))[0]):
            camera_id, model_id, width, height = struct.unpack("<iiQQ", handle.read(24))
            if model_id not in COLMAP_MODELS:
                raise CodecError(f"{folder / 'cameras.bin'}: unknown COLMAP camera model id {model_id}")
            name, count, _ = COLMAP_MODELS[model_id]
            cameras[camera_id] = (name, width, height, np.asarray(struct.unpack(f"<{count}d", handle.read(8 * count))))
    images = []
    with open(folder / "images.bin", "rb") as handle:
        for _ in range(struct.unpack("<Q", handle.read(8))[0]):
            _, *pose, camera_id = struct.unpack("<I7dI", handle.read(64))
            name = b""
            while (char := handle.read(1)) not in (b"\x00", b""):
                name += char
            num_points = struct.unpack("<Q", handle.read(8))[0]
            handle.seek(24 * num_points, os.SEEK_CUR)  # x, y (double), point3D id (int64)
            images.append((np.asarray(pose), camera_id, name.decode()))
    return cameras, images


def colmap_model_folder(path: str | os.PathLike) -> Path | None:
    """The folder holding a COLMAP model (``cameras`` and ``images``, ``.txt`` or ``.bin``) at ``path``
    or in its ``sparse/0`` or ``sparse``; None if there is none."""
    path = Path(path)
    for folder in (path, path / "sparse" / "0", path / "sparse"):
        if any((folder / f"cameras{ext}").is_file() and (folder / f"images{ext}").is_file()
               for ext in (".txt", ".bin")):
            return folder
    return None


def read_colmap(path: str | os.PathLike) -> ToolCameras:
    """A COLMAP model folder (text preferred over binary when both are there) -> :class:`ToolCameras`
    of its registered images, sorted by image name."""
    folder = colmap_model_folder(path)
    if folder is None:
        raise CodecError(f"{path}: no COLMAP model (cameras.txt + images.txt or cameras.bin + images.bin) "
                         "here or in sparse/0")
    try:
        cameras, images = (_read_text_model if (folder / "images.txt").is_file() else _read_binary_model)(folder)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise CodecError(f"{folder}: not a readable COLMAP model ({exc})") from None
    if not images:
        raise CodecError(f"{folder}: the COLMAP model holds no registered images")
    images.sort(key=lambda image: image[2])
    missing = sorted({camera_id for _, camera_id, _ in images} - set(cameras))
    if missing:
        raise CodecError(f"{folder}: images refer to camera ids {missing} that cameras holds not")
    poses = np.stack([pose for pose, _, _ in images])
    w2c = np.tile(np.eye(4), (len(images), 1, 1))
    w2c[:, :3, :3] = quaternion_to_matrix(poses[:, [1, 2, 3, 0]])  # COLMAP writes w first
    w2c[:, :3, 3] = poses[:, 4:7]
    used = [cameras[camera_id] for _, camera_id, _ in images]
    K = np.stack([_colmap_K(model, params, str(folder)) for model, _, _, params in used])
    sizes = np.asarray([(height, width) for _, width, height, _ in used], np.int64)
    return ToolCameras(invert_pose(w2c), K, sizes, tuple(name for _, _, name in images))


def _image_size(frame: dict, meta: dict, folder: Path) -> tuple[int, int]:
    """``(height, width)`` from ``h`` / ``w`` (frame, then top level), else from the frame's image file."""
    h, w = frame.get("h", meta.get("h")), frame.get("w", meta.get("w"))
    if h is not None and w is not None:
        return int(h), int(w)
    import cv2

    file = folder / frame.get("file_path", "")
    for candidate in (file, file.with_name(file.name + ".png")):
        if candidate.is_file():
            image = cv2.imread(str(candidate), cv2.IMREAD_UNCHANGED)
            if image is not None:
                return image.shape[:2]
    raise CodecError(f"{folder}: transforms.json gives no image size (w, h) and the image {file} is not there "
                     "to read it from; add \"w\" and \"h\"")


def _nerf_K(frame: dict, meta: dict, height: int, width: int, where: str) -> np.ndarray:
    def get(key):
        return frame.get(key, meta.get(key))

    if get("fl_x") is not None:
        fx = float(get("fl_x"))
    elif get("camera_angle_x") is not None:
        fx = 0.5 * width / math.tan(0.5 * float(get("camera_angle_x")))
    else:
        raise CodecError(f"{where}: transforms.json needs fl_x or camera_angle_x for the focal length")
    if get("fl_y") is not None:
        fy = float(get("fl_y"))
    elif get("camera_angle_y") is not None:
        fy = 0.5 * height / math.tan(0.5 * float(get("camera_angle_y")))
    else:
        fy = fx
    cx, cy = get("cx"), get("cy")
    return np.array([[fx, 0.0, width / 2 if cx is None else float(cx)],
                     [0.0, fy, height / 2 if cy is None else float(cy)], [0.0, 0.0, 1.0]])


def read_nerf(path: str | os.PathLike) -> ToolCameras:
    """A NeRF / Blender ``transforms.json`` (or the folder holding it) -> :class:`ToolCameras`, frames in
    file order."""
    path = Path(path)
    path = path / "transforms.json" if path.is_dir() else path
    try:
        meta = json.loads(path.read_text())
        frames = meta["frames"]
        gl = np.asarray([frame["transform_matrix"] for frame in frames], np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CodecError(f"{path}: not a NeRF transforms.json with frames[].transform_matrix ({exc})") from None
    if not len(frames) or gl.shape[1:] not in ((4, 4), (3, 4)):
        raise CodecError(f"{path}: transform_matrix must be 4x4 (or 3x4) per frame, got {gl.shape}")
    c2w = np.tile(np.eye(4), (len(frames), 1, 1))
    c2w[:, :3] = gl[:, :3]
    sizes = np.asarray([_image_size(frame, meta, path.parent) for frame in frames], np.int64)
    K = np.stack([_nerf_K(frame, meta, h, w, str(path)) for frame, (h, w) in zip(frames, sizes)])
    return ToolCameras(opengl_to_opencv(c2w), K, sizes, tuple(str(f.get("file_path", i)) for i, f in enumerate(frames)))
