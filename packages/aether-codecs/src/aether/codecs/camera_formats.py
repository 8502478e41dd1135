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

from aether.codecs.cameras import invert_pose, opengl_to_opencv, quaternion_to_matrix, read_text_file
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


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, line)`` of the lines that are not ``#`` comments. Blank lines are kept: an image with
    no 2-D points has an empty second line in ``images.txt``."""
    return [(number, line) for number, line in enumerate(read_text_file(path, "a COLMAP text model").splitlines(), 1)
            if not line.startswith("#")]


def _is_points_line(fields: list[str]) -> bool:
    """Whether ``fields`` can be an ``images.txt`` POINTS2D line: ``X Y POINT3D_ID`` triples of numbers."""
    try:
        [float(field) for field in fields]
    except ValueError:
        return False
    return len(fields) % 3 == 0


def _read_text_model(folder: Path) -> tuple[dict, list]:
    cameras = {}
    path = folder / "cameras.txt"
    for number, line in _data_lines(path):
        if line.strip():
            fields = line.split()
            if len(fields) < 4:
                raise CodecError(f"{path}, line {number}: a camera line holds 'CAMERA_ID MODEL WIDTH HEIGHT "
                                 f"PARAMS...', got {line.strip()[:80]!r}")
            if int(fields[0]) in cameras:
                raise CodecError(f"{path}, line {number}: camera id {fields[0]} is defined twice")
            cameras[int(fields[0])] = (fields[1], int(fields[2]), int(fields[3]), np.asarray(fields[4:], np.float64))
    path = folder / "images.txt"
    lines = _data_lines(path)
    while lines and not lines[-1][1].strip():
        lines.pop()
    images = []
    for index in range(0, len(lines), 2):  # every image line is followed by its POINTS2D line
        number, line = lines[index]
        fields = line.split()
        if len(fields) < 10:
            raise CodecError(f"{path}, line {number}: an image line holds 'IMAGE_ID QW QX QY QZ TX TY TZ "
                             f"CAMERA_ID NAME', got {line[:80]!r}")
        # a file without the POINTS2D lines would pair every other image as "points" and drop it unseen
        if index + 1 < len(lines) and not _is_points_line(lines[index + 1][1].split()):
            number, line = lines[index + 1]
            raise CodecError(f"{path}, line {number}: expected the POINTS2D line of image {fields[0]} "
                             f"('X Y POINT3D_ID' triples, empty if none), got {line[:80]!r}; images.txt holds two "
                             "lines per image")
        images.append((np.asarray(fields[1:8], np.float64), int(fields[8]), " ".join(fields[9:])))
    return cameras, images


def _unpack(handle, fmt: str, path: Path):
    """``struct.unpack(fmt)`` of the next bytes of ``handle``; CodecError if the file ends first."""
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise CodecError(f"{path}: ends early (truncated at byte {handle.tell()}); export the model again")
    return struct.unpack(fmt, data)


def _check_end(handle, path: Path) -> None:
    # a damaged count (too small) would leave records unread: the bytes must end where the records do
    if handle.tell() != os.fstat(handle.fileno()).st_size:
        raise CodecError(f"{path}: {os.fstat(handle.fileno()).st_size - handle.tell()} bytes after its last record "
                         "(a damaged count?); export the model again")


def _read_binary_model(folder: Path) -> tuple[dict, list]:
    cameras = {}
    path = folder / "cameras.bin"
    with open(path, "rb") as handle:
        for _ in range(_unpack(handle, "<Q", path)[0]):  # a loop of reads: a garbage count allocates nothing
            camera_id, model_id, width, height = _unpack(handle, "<iiQQ", path)
            if model_id not in COLMAP_MODELS:
                raise CodecError(f"{path}: unknown COLMAP camera model id {model_id}")
            if camera_id in cameras:
                raise CodecError(f"{path}: camera id {camera_id} is defined twice")
            name, count, _ = COLMAP_MODELS[model_id]
            cameras[camera_id] = (name, width, height, np.asarray(_unpack(handle, f"<{count}d", path)))
        _check_end(handle, path)
    images = []
    path = folder / "images.bin"
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        for _ in range(_unpack(handle, "<Q", path)[0]):
            _, *pose, camera_id = _unpack(handle, "<I7dI", path)
            name = b""
            while (char := handle.read(1)) not in (b"\x00", b""):
                name += char
            num_points = _unpack(handle, "<Q", path)[0]
            if num_points > (size - handle.tell()) // 24:  # seeking past the end would not fail
                raise CodecError(f"{path}: image {name[:80]!r} claims {num_points} points, more than the file "
                                 "holds (truncated or damaged); export the model again")
            handle.seek(24 * num_points, os.SEEK_CUR)  # x, y (double), point3D id (int64)
            images.append((np.asarray(pose), camera_id, name.decode()))
        _check_end(handle, path)
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
    except CodecError:
        raise
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise CodecError(f"{folder}: not a readable COLMAP model ({exc})") from None
    if not images:
        raise CodecError(f"{folder}: the COLMAP model holds no registered images")
    names = [name for _, _, name in images]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise CodecError(f"{folder}: image name {twice[0]!r} appears twice; frames are ordered by name, so each "
                         "image needs its own")
    images.sort(key=lambda image: image[2])
    missing = sorted({camera_id for _, camera_id, _ in images} - set(cameras))
    if missing:
        raise CodecError(f"{folder}: images refer to camera ids {missing} that cameras holds not")
    poses = np.stack([pose for pose, _, _ in images])
    for (pose, _, name) in images:
        if not np.isfinite(pose).all() or np.linalg.norm(pose[:4]) < 1e-12:
            raise CodecError(f"{folder}: image {name!r} has a pose with NaN/inf values or a zero quaternion; "
                             "export the model again")
    w2c = np.tile(np.eye(4), (len(images), 1, 1))
    w2c[:, :3, :3] = quaternion_to_matrix(poses[:, [1, 2, 3, 0]])  # COLMAP writes w first
    w2c[:, :3, 3] = poses[:, 4:7]
    used = [cameras[camera_id] for _, camera_id, _ in images]
    K = np.stack([_colmap_K(model, params, str(folder)) for model, _, _, params in used])
    sizes = [(height, width) for _, width, height, _ in used]
    _check_intrinsics(K, sizes, str(folder))
    return ToolCameras(invert_pose(w2c), K, np.asarray(sizes, np.int64), tuple(name for _, _, name in images))


MAX_IMAGE_SIDE = 1 << 20  # pixels; anything larger is a damaged field, not a camera


def _check_intrinsics(K: np.ndarray, sizes: list[tuple[int, int]], where: str) -> None:
    """Refuse what would make a wrong or failing raymap: non-finite intrinsics, focals <= 0 (a mirrored or
    singular camera), image sizes that are not positive integers."""
    for i, ((height, width), k) in enumerate(zip(sizes, K)):
        if not all(isinstance(v, (int, np.integer)) and 0 < v <= MAX_IMAGE_SIDE for v in (height, width)):
            raise CodecError(f"{where}: frame {i} has image size {width}x{height} (width x height); sizes must be "
                             f"whole numbers in 1..{MAX_IMAGE_SIDE}")
        if not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CodecError(f"{where}: frame {i} has intrinsics fx {k[0, 0]:g}, fy {k[1, 1]:g}, cx {k[0, 2]:g}, "
                             f"cy {k[1, 2]:g}; focal lengths must be positive and all of them finite")


def _json_number(value: object, key: str, where: str) -> float:
    """``value`` as a float if it is a finite JSON number (not a string, not true / false)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise CodecError(f"{where}: {key} must be a number, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise CodecError(f"{where}: {key} must be a finite number, got {json.dumps(value)[:40]}")
    return number


def _image_size(frame: dict, meta: dict, folder: Path, where: str) -> tuple[int, int]:
    """``(height, width)`` from ``h`` / ``w`` (frame, then top level), else from the frame's image file."""
    h, w = frame.get("h", meta.get("h")), frame.get("w", meta.get("w"))
    if h is not None and w is not None:
        size = (_json_number(h, "h", where), _json_number(w, "w", where))
        if not all(v.is_integer() and 0 < v <= MAX_IMAGE_SIDE for v in size):
            raise CodecError(f"{where}: image size w {w}, h {h}: must be whole numbers in 1..{MAX_IMAGE_SIDE}")
        return int(size[0]), int(size[1])
    import cv2

    file_path = frame.get("file_path", "")
    if not isinstance(file_path, str):
        raise CodecError(f"{where}: file_path must be a string, got {json.dumps(file_path)[:40]}")
    file = folder / file_path
    for candidate in (file, file.with_name(file.name + ".png")):
        if candidate.is_file():
            image = cv2.imread(str(candidate), cv2.IMREAD_UNCHANGED)
            if image is not None:
                return image.shape[:2]
    raise CodecError(f"{folder}: transforms.json gives no image size (w, h) and the image {file} is not there "
                     "to read it from; add \"w\" and \"h\"")


def _nerf_K(frame: dict, meta: dict, height: int, width: int, where: str) -> np.ndarray:
    def get(key: str) -> float | None:
        value = frame.get(key, meta.get(key))
        return None if value is None else _json_number(value, key, where)

    def focal(angle_key: str, size: int) -> float:
        angle = get(angle_key)
        if not 0 < angle < math.pi:  # radians; outside, the focal would be negative or infinite
            raise CodecError(f"{where}: {angle_key} must be an angle in radians between 0 and pi, got {angle:g}")
        return 0.5 * size / math.tan(0.5 * angle)

    if get("fl_x") is not None:
        fx = get("fl_x")
    elif get("camera_angle_x") is not None:
        fx = focal("camera_angle_x", width)
    else:
        raise CodecError(f"{where}: transforms.json needs fl_x or camera_angle_x for the focal length")
    if get("fl_y") is not None:
        fy = get("fl_y")
    elif get("camera_angle_y") is not None:
        fy = focal("camera_angle_y", height)
    else:
        fy = fx
    cx, cy = get("cx"), get("cy")
    return np.array([[fx, 0.0, width / 2 if cx is None else cx],
                     [0.0, fy, height / 2 if cy is None else cy], [0.0, 0.0, 1.0]])


def read_nerf(path: str | os.PathLike) -> ToolCameras:
    """A NeRF / Blender ``transforms.json`` (or the folder holding it) -> :class:`ToolCameras`, frames in
    file order."""
    path = Path(path)
    path = path / "transforms.json" if path.is_dir() else path
    layout = "a NeRF transforms.json with frames[].transform_matrix"
    if not path.is_file():
        raise CodecError(f"{path}: no such file; pass {layout} or the folder holding it")
    text = read_text_file(path, layout)
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested brackets
        raise CodecError(f"{path}: not {layout} ({exc})") from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not isinstance(frames, list) or not frames:
        raise CodecError(f"{path}: not {layout}: needs an object with a non-empty list \"frames\"")
    gl = []
    for i, frame in enumerate(frames):
        try:
            matrix = np.asarray(frame["transform_matrix"]) if isinstance(frame, dict) else None
        except (KeyError, ValueError):  # missing, or ragged rows
            matrix = None
        # the kind check refuses strings and true / false, which NumPy would turn into numbers
        if matrix is None or matrix.dtype.kind not in "iuf" or matrix.shape not in ((4, 4), (3, 4)):
            raise CodecError(f"{path}: frames[{i}] needs a transform_matrix of 4x4 (or 3x4) numbers")
        gl.append(matrix[:3].astype(np.float64))
    c2w = np.tile(np.eye(4), (len(frames), 1, 1))
    c2w[:, :3] = np.stack(gl)
    where = str(path)
    sizes = [_image_size(frame, meta, path.parent, where) for frame in frames]
    K = np.stack([_nerf_K(frame, meta, h, w, where) for frame, (h, w) in zip(frames, sizes)])
    _check_intrinsics(K, sizes, where)
    return ToolCameras(opengl_to_opencv(c2w), K, np.asarray(sizes, np.int64),
                       tuple(str(f.get("file_path", i)) for i, f in enumerate(frames)))
