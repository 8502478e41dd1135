"""Reading and writing images and videos (imageio + its ffmpeg plugin), atomically, and reading
NumPy arrays without ever unpickling them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aether.core.atomic import atomic_path
from aether.core.errors import ClipError

# the fastest frame rate an mp4 round-trips at: imageio reads 1000 fps and above back as 0
MAX_FPS = 960.0


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (F, H, W, 3); got {frames.dtype} {frames.shape}")
    return frames


def check_fps(fps: float, where: str) -> float:
    """``fps`` as a float; raise :class:`ClipError` naming ``where`` unless it is in (0, MAX_FPS]."""
    if not 0 < float(fps) <= MAX_FPS:
        raise ClipError(f"{where}: frame rate must be a number in (0, {MAX_FPS:g}], got {fps:g}")
    return float(fps)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 frames ``(F, H, W, 3)`` as an H.264 mp4 (sizes padded by ffmpeg to even)."""
    import imageio.v2 as imageio

    frames = _check_frames(frames)
    fps = check_fps(fps, str(path))  # ffmpeg would write a broken file, not fail
    with atomic_path(path) as tmp:
        with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                macro_block_size=2, ffmpeg_log_level="error") as writer:
            for frame in frames:
                writer.append_data(frame)
    return Path(path)


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a video file into uint8 ``(F, H, W, 3)`` and its fps."""
    import imageio.v2 as imageio

    try:
        reader = imageio.get_reader(Path(path), format="FFMPEG")
        fps = float(reader.get_meta_data().get("fps", 0.0))
        frames = np.stack([np.asarray(f)[..., :3] for f in reader])
        reader.close()
    except Exception as exc:  # imageio raises many types for unreadable files
        raise ClipError(f"{path}: cannot read video ({exc}); is it a valid mp4?") from exc
    return frames, fps


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 ``(H, W, 3)`` / ``(H, W)`` or uint16 ``(H, W)`` image as PNG."""
    import imageio.v2 as imageio

    with atomic_path(path) as tmp:
        imageio.imwrite(tmp, np.asarray(image), format="PNG")
    return Path(path)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as stored (uint8 RGB drops alpha; 16-bit PNG stays uint16)."""
    import imageio.v2 as imageio

    try:
        image = np.asarray(imageio.imread(Path(path)))
    except Exception as exc:
        raise ClipError(f"{path}: cannot read image ({exc})") from exc
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return image


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read a numeric ``.npy`` array; pickled objects are refused, never loaded (loading runs their code)."""
    try:
        array = np.load(Path(path), allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:  # pickles, truncated and non-npy files
        raise ClipError(f"{path}: not a readable .npy array ({exc}); pickled data is never loaded, "
                        "save a numeric array with np.save") from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise ClipError(f"{path}: an .npz archive, not one .npy array")
    if array.dtype.kind not in "biuf":
        raise ClipError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    return array
