"""Reading depth maps for ``aether eval depth`` in the benchmarks' formats.

- Sintel ``.dpt``: float32 tag 202021.25, int32 width, int32 height, then width x height float32;
- 16-bit PNG (Bonn / TUM, KITTI, ScanNet): stored value / ``png_scale`` (5000, 256, 1000), 0 = invalid;
- ``.npy`` ``(F, H, W)`` or ``(H, W)``; ``.npz`` with one array or a ``depth`` array;
- a folder of per-frame files of one of these formats (frames in natural name order);
- ``aether reconstruct``'s output folder or manifest (its ``*_depth.npy``);
- any clip :func:`aether.core.clip.load_clip` reads that carries depth.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from aether.core.media import read_array
from aether.core.frame_folders import frame_files
from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.result_files import result_file

SINTEL_TAG = 202021.25  # 'PIEH' read as a little-endian float32
DEPTH_SUFFIXES = (".dpt", ".png", ".npy", ".npz")


def read_dpt(path: Path) -> np.ndarray:
    """Depth ``(H, W)`` float32 of a Sintel ``.dpt`` file."""
    raw = path.read_bytes()
    if len(raw) < 12 or np.frombuffer(raw, "<f4", 1)[0] != SINTEL_TAG:
        raise MetricInputError(f"{path}: not a Sintel .dpt file (no 'PIEH' tag)")
    width, height = (int(n) for n in np.frombuffer(raw, "<i4", 2, offset=4))  # Python ints: no int32 overflow
    if width <= 0 or height <= 0:
        raise MetricInputError(f"{path}: the .dpt header gives a {width}x{height} map; the file is damaged")
    if len(raw) != 12 + 4 * width * height:
        raise MetricInputError(f"{path}: a {width}x{height} .dpt needs {12 + 4 * width * height} bytes; "
                               f"the file has {len(raw)} (damaged or truncated)")
    return np.frombuffer(raw, "<f4", offset=12).reshape(height, width)


def read_png_depth(path: Path, png_scale: float | None) -> np.ndarray:
    """Depth ``(H, W)`` float64 = 16-bit value / ``png_scale`` (0 stays 0, i.e. invalid)."""
    import cv2

    if png_scale is None or not png_scale > 0:
        raise MetricInputError(f"{path}: a depth PNG needs --png-scale: 5000 (Bonn, TUM), 256 (KITTI), "
                               "1000 (ScanNet)")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16 or image.ndim != 2:
        kind = "unreadable" if image is None else f"{image.dtype} with shape {image.shape}"
        raise MetricInputError(f"{path}: a depth PNG must be single-channel 16-bit; this one is {kind}")
    return image / float(png_scale)


def _read_array(path: Path) -> np.ndarray:
    """A depth array from ``.npy`` or ``.npz``; pickled data is refused, never loaded (loading runs its code)."""
    if path.suffix.lower() == ".npy":
        return read_array(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            name = "depth" if "depth" in names else names[0] if len(names) == 1 else None
            if name is None:
                raise MetricInputError(f"{path}: holds arrays {names}; name the depth one 'depth'")
            depth = archive[name]
    except MetricInputError:
        raise
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:  # pickles, truncated and foreign files
        raise MetricInputError(f"{path}: not a readable .npz of numeric arrays ({exc}); pickled data is never "
                               "loaded, save numeric arrays with np.savez") from None
    if depth.dtype.kind not in "biuf":  # strings would fail in NumPy, complex lose their imaginary part
        raise MetricInputError(f"{path}: array {name!r} is {depth.dtype}; depth must be a real numeric array")
    return depth


def _read_file(path: Path, png_scale: float | None) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".dpt":
        return read_dpt(path)
    if suffix == ".png":
        return read_png_depth(path, png_scale)
    return _read_array(path)


def _read_folder(path: Path, png_scale: float | None) -> np.ndarray | None:
    """Frames ``(F, H, W)`` of a folder of per-frame depth files; None if it holds none."""
    files = frame_files(path, DEPTH_SUFFIXES)
    if not files:
        return None
    suffixes = sorted({f.suffix.lower() for f in files})
    if len(suffixes) > 1:
        raise MetricInputError(f"{path}: per-frame depth files of several formats ({', '.join(suffixes)}); "
                               "keep one")
    frames = [_read_file(f, png_scale) for f in files]
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1 or len(shapes.pop()) != 2:
        raise MetricInputError(f"{path}: every per-frame depth file must hold one (H, W) map of the same size; "
                               f"found shapes {sorted({np.shape(f) for f in frames})}")
    return np.stack(frames)


def read_depth(path: str | Path, png_scale: float | None = None) -> np.ndarray:
    """Depth ``(F, H, W)`` or ``(H, W)`` from ``path`` in any format of the module docstring."""
    path = Path(path)
    if not path.exists():
        raise MetricInputError(f"{path}: no such file; pass depth as .dpt, 16-bit .png, .npy, .npz, a folder "
                               "of them, an aether output folder or a clip")
    listed = result_file(path, "depth")
    if listed is not None:
        return read_array(listed)
    if path.is_file() and path.suffix.lower() in DEPTH_SUFFIXES:
        return _read_file(path, png_scale)
    if path.is_dir():
        frames = _read_folder(path, png_scale)
        if frames is not None:
            return frames
    from aether.core.clip import load_clip

    clip = load_clip(path)
    clip.require("depth", where=str(path))
    return clip.depth
