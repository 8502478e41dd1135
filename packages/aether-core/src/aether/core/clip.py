"""The clip format shared by every package.

One clip = one ``.safetensors`` file holding

====================  ===========  =============================================
tensor                dtype        shape / meaning
====================  ===========  =============================================
``rgb``               uint8        (F, H, W, 3)
``depth``             float32      (F, H, W) metres, 0 = invalid (optional)
``K``                 float32      (F, 3, 3) pixel intrinsics (optional)
``c2w``               float32      (F, 4, 4) camera-to-world, OpenCV axes (optional)
``dynamic_mask``      uint8        (F, H, W) 1 = dynamic pixel (optional)
anything else         any          kept in :attr:`Clip.extras` (e.g. ``labels``)
====================  ===========  =============================================

and string metadata ``fps``, ``source`` plus any other keys (kept in :attr:`Clip.meta`).
Clip folders (``rgb/*.png``, ``depth/*.npy`` or 16-bit ``depth/*.png``, optional ``K.npy``,
``c2w.npy``, ``meta.json``), plain folders of images and video files (colour only) load into the same
:class:`Clip`. A folder with an ``rgb/`` subfolder is a clip folder: images beside ``rgb/`` are ignored.
"""

from __future__ import annotations

import os
import reprlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from aether.core.atomic import atomic_path
from aether.core.errors import ClipError
from aether.core.frame_folders import frame_files, image_frames, read_frame_folder, stack_frames
from aether.core.json_files import read_json_object
from aether.core.media import IMAGE_SUFFIXES, MAX_FPS, VIDEO_SUFFIXES, read_array, read_image, read_rgb, read_video

ROTATION_TOLERANCE = 1e-3
DEFAULT_FPS = 12.0  # the frame rate of a clip that does not say its own (a frame folder without meta.json fps)
_CORE = ("rgb", "depth", "K", "c2w", "dynamic_mask")
_DTYPES = {"rgb": np.uint8, "depth": np.float32, "K": np.float32, "c2w": np.float32,
           "dynamic_mask": np.uint8}


@dataclass
class Clip:
    """An RGB(-D) video with optional cameras; arrays are NumPy, shapes as in the module doc."""

    rgb: np.ndarray
    fps: float
    depth: np.ndarray | None = None
    K: np.ndarray | None = None
    c2w: np.ndarray | None = None
    dynamic_mask: np.ndarray | None = None
    source: str = ""
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[2])

    def require(self, *fields: str, where: str = "clip") -> None:
        """Raise a clear error if any optional field this caller needs is missing."""
        missing = [name for name in fields if getattr(self, name) is None]
        if missing:
            raise ClipError(f"{where}: field(s) {', '.join(missing)} missing; this step needs them "
                            "(annotate the clip first to get cameras, or use a clip with depth)")

    def select(self, frames: slice | np.ndarray | list[int]) -> "Clip":
        """A clip holding only ``frames`` of this one (extras with a frame axis are sliced too)."""
        pick = (lambda a: None if a is None else a[frames])
        extras = {k: (v[frames] if v.ndim and v.shape[0] == self.num_frames else v)
                  for k, v in self.extras.items()}
        return replace(self, rgb=self.rgb[frames], depth=pick(self.depth), K=pick(self.K),
                       c2w=pick(self.c2w), dynamic_mask=pick(self.dynamic_mask), extras=extras)

    def validate(self, where: str = "clip") -> "Clip":
        """Check shapes, dtypes and values; raise :class:`ClipError` naming ``where`` and the field."""
        def fail(name: str, problem: str) -> None:
            raise ClipError(f"{where}: field {name!r}: {problem}")

        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3:
            fail("rgb", f"expected shape (F, H, W, 3), got {tuple(self.rgb.shape)}")
        if self.rgb.dtype != np.uint8:
            fail("rgb", f"expected uint8, got {self.rgb.dtype}")
        n, h, w = self.rgb.shape[:3]
        if n == 0:
            fail("rgb", "the clip has no frames")
        expected = {"depth": (n, h, w), "dynamic_mask": (n, h, w), "K": (n, 3, 3), "c2w": (n, 4, 4)}
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                fail(name, f"expected shape {shape} to match rgb's {n} frames of {h}x{w}, "
                           f"got {tuple(value.shape)}")
        if not (np.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            fail("fps", f"must be a positive number of at most {MAX_FPS:g} frames per second, got {self.fps}")
        if self.dynamic_mask is not None and self.dynamic_mask.max(initial=0) > 1:
            fail("dynamic_mask", f"must hold 0 (static) and 1 (dynamic), found {int(self.dynamic_mask.max())}")
        if self.depth is not None:
            bad = ~np.isfinite(self.depth)
            if bad.any():
                fail("depth", f"{int(bad.sum())} non-finite values; use 0 for invalid pixels")
            if (self.depth < 0).any():
                fail("depth", f"{int((self.depth < 0).sum())} negative values; depth is metres >= 0")
        if self.K is not None:
            if not np.isfinite(self.K).all():
                fail("K", "non-finite values")
            fx, fy = self.K[:, 0, 0], self.K[:, 1, 1]
            if (fx <= 0).any() or (fy <= 0).any():
                fail("K", f"focal lengths must be positive; frame {int(np.argmin(np.minimum(fx, fy)))} "
                          f"has fx={float(fx.min()):g}, fy={float(fy.min()):g}")
            if not np.allclose(self.K[:, 2], [0.0, 0.0, 1.0], atol=1e-6) or \
                    not np.allclose(self.K[:, 1, 0], 0.0, atol=1e-6):
                fail("K", "last row must be [0, 0, 1] and K[1, 0] zero (an upper-triangular intrinsics matrix)")
        if self.c2w is not None:
            check_c2w(self.c2w, f"{where}: field 'c2w'")
        return self


def check_c2w(c2w: np.ndarray, where: str, tol: float = ROTATION_TOLERANCE) -> None:
    """Raise :class:`ClipError` unless every ``(..., 4, 4)`` matrix is a rigid transform."""
    c2w = np.asarray(c2w, dtype=np.float64)
    if not np.isfinite(c2w).all():
        raise ClipError(f"{where}: non-finite values")
    if not np.allclose(c2w[..., 3, :], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise ClipError(f"{where}: last row must be [0, 0, 0, 1]")
    rot = c2w[..., :3, :3]
    err = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).reshape(len(rot.reshape(-1, 3, 3)), -1).max(-1)
    det = np.linalg.det(rot.reshape(-1, 3, 3))
    if (err > tol).any():
        i = int(np.argmax(err))
        raise ClipError(f"{where}: rotation of frame {i} is not orthonormal (|R R^T - I| = {err[i]:.2e} "
                        f"> {tol:g}); re-orthonormalise it (e.g. with an SVD)")
    if (det < 0).any():
        raise ClipError(f"{where}: rotation of frame {int(np.argmin(det))} is a reflection (det < 0)")


# --------------------------------------------------------------------------- safetensors files
def save_clip(clip: Clip, path: str | os.PathLike) -> Path:
    """Validate ``clip`` and write it atomically as one ``.safetensors`` file."""
    from safetensors.numpy import save_file

    path = Path(path)
    clip.validate(str(path))
    tensors = {name: np.ascontiguousarray(getattr(clip, name), dtype=_DTYPES[name])
               for name in _CORE if getattr(clip, name) is not None}
    for key, value in clip.extras.items():
        if key in tensors:
            raise ClipError(f"{path}: extra tensor {key!r} shadows a core field")
        tensors[key] = np.ascontiguousarray(value)
    meta = {**clip.meta, "fps": repr(float(clip.fps)), "source": clip.source, "format": "aether-clip/1"}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _load_safetensors(path: Path) -> Clip:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # safetensors raises its own error type for corrupt headers/data
        raise ClipError(f"{path}: not a readable clip file ({exc}); the file may be truncated or "
                        "corrupt; re-create it") from exc
    if "rgb" not in tensors:
        raise ClipError(f"{path}: field 'rgb': missing; a clip file must hold an rgb tensor")
    try:
        fps = float(meta.pop("fps"))
    except (KeyError, ValueError):
        raise ClipError(f"{path}: field 'fps': missing or not a number in the metadata") from None
    meta.pop("format", None)
    source = meta.pop("source", "")
    core = {name: tensors.pop(name, None) for name in _CORE}
    for name, value in core.items():
        if value is not None and value.dtype != _DTYPES[name]:
            raise ClipError(f"{path}: field {name!r}: expected {np.dtype(_DTYPES[name]).name}, got {value.dtype}")
    return Clip(fps=fps, source=source, extras=tensors, meta=meta, **core).validate(str(path))


# --------------------------------------------------------------------------- frame folders
def _read_meta(path: Path) -> dict:
    file = path / "meta.json"
    if not file.exists():
        return {}
    return read_json_object(file, ClipError, "fix it or delete it to use the defaults")


def _meta_number(meta: dict, key: str, default: float, path: Path) -> float:
    value = meta.get(key, default)
    try:
        if isinstance(value, bool):  # float(true) would be 1.0
            raise TypeError
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer of 400 digits
        raise ClipError(f"{path / 'meta.json'}: field {key!r}: expected a number, got {reprlib.repr(value)}") from None


def _depth_scale(meta: dict, path: Path) -> float:
    """``meta.json``'s metres per 16-bit depth unit: a positive finite number (0 would turn every depth
    into invalid, a negative or NaN scale would be blamed on the depth maps)."""
    scale = _meta_number(meta, "depth_scale", 0.001, path)
    if not (np.isfinite(scale) and scale > 0):
        raise ClipError(f"{path / 'meta.json'}: field 'depth_scale': must be a positive number of metres "
                        f"per depth PNG unit, got {scale:g}; e.g. 0.001 for millimetres")
    return scale


def _read_depth_png(file: Path) -> np.ndarray:
    """A 16-bit depth PNG; an 8-bit one is a picture of depth (normalised for viewing), not depth units."""
    depth = read_image(file)
    if depth.dtype != np.uint16:
        raise ClipError(f"{file}: {depth.dtype} depth PNG; depth PNGs must be 16-bit integers in units of "
                        "meta.json's depth_scale (or give depth as float .npy files in metres)")
    return depth


def _is_clip_folder(path: Path) -> bool:
    return (path / "rgb").is_dir()


def _depth_files(path: Path, suffix: str) -> list[Path]:
    folder = path / "depth"
    return frame_files(folder, (suffix,)) if folder.is_dir() else []


def _check_depth_kinds(path: Path) -> None:
    """A depth/ of images other than PNG (JPEG, TIFF ...) would be skipped without a word: say so."""
    folder = path / "depth"
    others = frame_files(folder, tuple(s for s in IMAGE_SUFFIXES if s != ".png")) if folder.is_dir() else []
    if others:
        raise ClipError(f"{others[0]}: depth maps must be .npy (metres) or 16-bit .png files; convert "
                        f"depth/ ({len(others)} such file(s)) or remove it")


def _load_folder(path: Path) -> tuple[Clip, bool]:
    """The clip folder's clip and whether its ``meta.json`` states the frame rate."""
    meta = _read_meta(path)
    rgb_files = image_frames(path / "rgb")
    if not rgb_files:
        raise ClipError(f"{path}: field 'rgb': no image frames ({', '.join(IMAGE_SUFFIXES)}) in rgb/")
    rgb = stack_frames(rgb_files, read_rgb)
    depth = None
    npy, png = _depth_files(path, ".npy"), _depth_files(path, ".png")
    if npy and png:  # which would be the depth is a guess: the frame counts would not say what went wrong
        raise ClipError(f"{path / 'depth'}: holds both .npy ({len(npy)}) and .png ({len(png)}) depth maps; keep one "
                        "kind (float .npy in metres or 16-bit .png)")
    if npy:
        depth = stack_frames(npy, read_array).astype(np.float32)
    elif png:
        # 16-bit PNG depth stores integer units; depth_scale converts them to metres.
        depth = stack_frames(png, _read_depth_png).astype(np.float32) * _depth_scale(meta, path)
    else:
        _check_depth_kinds(path)
    cams = {}
    for name, shape in (("K", (3, 3)), ("c2w", (4, 4))):
        file = path / f"{name}.npy"
        if file.exists() or file.is_symlink():  # a broken link is read, and refused, not skipped
            value = read_array(file).astype(np.float32)
            cams[name] = np.broadcast_to(value, (len(rgb), *shape)).copy() if value.shape == shape else value
    clip = Clip(rgb=rgb, depth=depth, fps=_meta_number(meta, "fps", DEFAULT_FPS, path),
                source=str(meta.get("source", path.name)), **cams).validate(str(path))
    return clip, "fps" in meta


def _load(path: str | os.PathLike) -> tuple[Clip, bool]:
    """The clip at ``path`` and whether the input states its frame rate (else it is :data:`DEFAULT_FPS`)."""
    path = Path(path)
    if not path.exists():
        raise ClipError(f"{path}: no such file or folder")
    if path.suffix == ".safetensors" and path.is_file():
        return _load_safetensors(path), True
    if path.is_dir() and _is_clip_folder(path):  # rgb/ wins over images beside it
        return _load_folder(path)
    if path.is_dir():
        rgb, fps = read_frame_folder(path), 0.0
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        rgb, fps = read_video(path)
    else:
        raise ClipError(f"{path}: unknown clip type {path.suffix!r}; use a .safetensors clip, a folder of "
                        f"frames or a video file ({', '.join(VIDEO_SUFFIXES)})")
    return Clip(rgb=rgb, fps=fps or DEFAULT_FPS, source=path.name).validate(str(path)), fps > 0


def load_clip(path: str | os.PathLike) -> Clip:
    """Load a clip from a ``.safetensors`` file, a clip folder (``rgb/``), a plain folder of images or a
    video file (colour only; :data:`DEFAULT_FPS` when the input states no frame rate)."""
    return _load(path)[0]


def load_frames(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """The colour frames uint8 ``(F, H, W, 3)`` of any video input a user gives (anything
    :func:`load_clip` reads) and the frame rate it states: None for a folder without ``meta.json`` fps
    or a container without a rate, so that the caller picks (and says) its default."""
    clip, stated = _load(path)
    return clip.rgb, clip.fps if stated else None


def iter_clip_paths(path: str | os.PathLike) -> list[Path]:
    """The clips of ``path``: a folder's ``*.safetensors`` (sorted); else the path itself, one clip (a file,
    a clip folder with ``rgb/``, a folder of images without ``.safetensors``)."""
    path = Path(path)
    if path.is_dir() and not _is_clip_folder(path):
        clips = sorted(path.glob("*.safetensors"))
        return clips if clips or not image_frames(path) else [path]
    return [path]


def _good_fps(fps: float) -> bool:
    """What :meth:`Clip.validate` accepts: a header stating another rate must not be taken on trust."""
    return bool(np.isfinite(fps) and 0 < fps <= MAX_FPS)


def clip_length(path: str | os.PathLike) -> tuple[int, float]:
    """A clip's frame count and fps without reading its frames: the header of a ``.safetensors``
    clip, the file count (and ``meta.json``) of a frame folder; video files are loaded."""
    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                shape, fps = f.get_slice("rgb").get_shape(), float((f.metadata() or {})["fps"])
            if len(shape) == 4 and shape[0] > 0 and shape[-1] == 3 and _good_fps(fps):
                return int(shape[0]), fps
        except Exception:  # a corrupt header, no rgb tensor or no fps: loading it names what is wrong
            pass
    elif path.is_dir():
        clip_folder = _is_clip_folder(path)
        frames = image_frames(path / "rgb" if clip_folder else path)
        fps = _meta_number(_read_meta(path), "fps", DEFAULT_FPS, path) if clip_folder else DEFAULT_FPS
        if frames and _good_fps(fps):  # else loading it names what is wrong
            return len(frames), fps
    clip = load_clip(path)
    return clip.num_frames, clip.fps
