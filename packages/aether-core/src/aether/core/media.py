"""Reading and writing images and videos (imageio + its ffmpeg plugin), atomically, and reading
NumPy arrays without ever unpickling them."""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from aether.core.atomic import atomic_path
from aether.core.errors import ClipError

# the fastest frame rate an mp4 round-trips at: imageio reads 1000 fps and above back as 0
MAX_FPS = 960.0
# the most pixels an image frame may have (about 9459 x 9459, Pillow's decompression-bomb warning limit)
MAX_IMAGE_PIXELS = 89_478_485
# Pillow modes imageio hands over as raw channels (CMYK's fourth would be dropped as if it were alpha)
_CONVERTED_MODES = ("CMYK", "LAB", "HSV", "YCbCr")
_EXIF_ORIENTATION = 0x0112  # the EXIF tag of how the stored picture is turned (1: upright)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


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


def _ffmpeg_problem(exc: Exception) -> str:
    """The last line of ffmpeg's stderr in ``exc`` (imageio-ffmpeg appends all of it): the one saying why."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _not_the_upright_size(record: logging.LogRecord) -> bool:
    """Drops imageio-ffmpeg's warning that a rotated (phone) video's frames differ in size from the
    stored ones: ffmpeg turns them upright on purpose."""
    return "different from the source frame size" not in record.getMessage()


def _decode(path: Path, output_params: list[str]) -> tuple[dict, list[np.ndarray]]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=output_params)
    meta = next(reader)
    width, height = meta["size"]
    return meta, [np.frombuffer(data, np.uint8).reshape(height, width, 3) for data in reader]


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a video file of any :data:`VIDEO_SUFFIXES` container into uint8 ``(F, H, W, 3)``, upright as
    its rotation metadata says, and its fps (0.0 when the container states none). Every stored frame
    comes out once: ffmpeg's default constant-rate output would repeat frames of a variable-rate video
    (a one-frame GIF became 10 or 20 frames), at a rate that is not the one reported."""
    # imageio-ffmpeg directly: imageio's FFMPEG plugin refuses .m4v and .gif by name, ffmpeg reads both
    logging.getLogger("imageio_ffmpeg").addFilter(_not_the_upright_size)  # a no-op once added
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ClipError(f"{path}: unknown video type {path.suffix!r}; use one of {', '.join(VIDEO_SUFFIXES)}")
    try:
        try:
            meta, frames = _decode(path, ["-fps_mode", "passthrough"])
        except (OSError, RuntimeError) as exc:
            if "option 'fps_mode'" not in str(exc):  # ffmpeg < 5.1: "Unrecognized option 'fps_mode'"
                raise
            meta, frames = _decode(path, ["-vsync", "passthrough"])  # an ffmpeg older than 5.1
    except Exception as exc:  # ffmpeg fails with OSError / RuntimeError and its whole log
        if "does not contain any stream" in str(exc):  # its last line would be "Invalid argument"
            raise ClipError(f"{path}: the file holds no video stream (audio or data only); give a video "
                            "with a picture track") from exc
        raise ClipError(f"{path}: cannot decode video ({_ffmpeg_problem(exc)}); check that it plays, or "
                        "re-encode it (ffmpeg -i IN out.mp4)") from exc
    if not frames:
        raise ClipError(f"{path}: the video holds no frames")
    return np.stack(frames), float(meta.get("fps") or 0.0)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 ``(H, W, 3)`` / ``(H, W)`` or uint16 ``(H, W)`` image as PNG."""
    import imageio.v2 as imageio

    with atomic_path(path) as tmp:
        imageio.imwrite(tmp, np.asarray(image), format="PNG")
    return Path(path)


def _pillow_image(path: Path) -> np.ndarray | None:
    """Check the size a header claims before anything decodes it (a tiny TIFF can claim 60000 x 60000 and
    imageio's TIFF reader allocates it); decode colour models imageio would hand over raw (CMYK, Lab) to
    RGB, and turn a photo upright as its EXIF orientation says (as a video is by its rotation flag; every
    viewer shows it so). None: decode with imageio (including files Pillow cannot open, for imageio's own
    message)."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():  # the size is checked below, whatever the warning filters say
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            (width, height), mode = im.size, im.mode
            if width * height <= MAX_IMAGE_PIXELS:
                turned = im.getexif().get(_EXIF_ORIENTATION, 1) not in (0, 1)
                if mode not in _CONVERTED_MODES and not turned:
                    return None
                upright = ImageOps.exif_transpose(im)
                return np.asarray(upright if upright.mode in ("L", "RGB", "I;16") else upright.convert("RGB"))
            size = f"{width} x {height}"
    except Image.DecompressionBombError as exc:  # Pillow refuses twice its limit on opening
        size = next(iter(re.findall(r"\((\d+) pixels\)", str(exc))), "too many")
    except Exception:
        return None
    raise ClipError(f"{path}: the image header claims {size} pixels, more than the {MAX_IMAGE_PIXELS} a "
                    "frame may have; the file is damaged or not a video frame: shrink it or remove it")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as stored, upright (uint8 RGB drops alpha; 16-bit PNG stays uint16)."""
    import imageio.v2 as imageio

    image = _pillow_image(Path(path))
    if image is not None:
        return image
    try:
        image = np.asarray(imageio.imread(Path(path)))
    except Exception as exc:  # imageio's messages can run over several lines: keep the first
        problem = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ClipError(f"{path}: cannot read image ({problem}); re-save it as PNG or JPEG, or remove it") from exc
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return image


def to_rgb8(image: np.ndarray, where: str) -> np.ndarray:
    """An image as read (gray ``(H, W)``, gray + alpha, RGB or RGBA; 8- or 16-bit) as uint8 RGB
    ``(H, W, 3)``: alpha dropped, gray repeated, 16 bits cut to their high byte, the rule Pillow itself
    applies to 16-bit colour PNGs (so 16-bit gray and colour frames agree; ``v * 257`` gives back ``v``)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (2, 4):  # gray + alpha, RGBA
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ClipError(f"{where}: expected a gray, RGB or RGBA image, got shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise ClipError(f"{where}: {image.dtype} pixels; colour frames must be 8- or 16-bit images "
                        "(save them as 8-bit PNG or JPEG)")
    return image


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB ``(H, W, 3)`` (:func:`to_rgb8` of :func:`read_image`)."""
    return to_rgb8(read_image(path), str(path))


def _check_npy_size(path: Path) -> None:
    """Refuse an ``.npy`` file whose header claims more data than the file holds, before NumPy allocates
    it (a 128-byte file can claim terabytes). Headers that do not parse are left to :func:`numpy.load`."""
    from numpy.lib import format as npy

    try:
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                return
            fh.seek(0)
            version = npy.read_magic(fh)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            held = os.fstat(fh.fileno()).st_size - fh.tell()
    except Exception:
        return
    needed = math.prod(shape) * dtype.itemsize
    if needed > held and not dtype.hasobject:  # a pickle's size says nothing; np.load refuses it
        raise ClipError(f"{path}: truncated .npy array: its header says {shape} {dtype} ({needed} bytes) but "
                        f"the file holds {held} bytes of data; re-save it with np.save")


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read a numeric ``.npy`` array; pickled objects are refused, never loaded (loading runs their code)."""
    _check_npy_size(Path(path))
    try:
        array = np.load(Path(path), allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:  # pickles, truncated, non-npy files
        raise ClipError(f"{path}: not a readable .npy array ({exc}); pickled data is never loaded, "
                        "save a numeric array with np.save") from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise ClipError(f"{path}: an .npz archive, not one .npy array")
    if array.dtype.kind not in "biuf":
        raise ClipError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    return array
