"""Regression tests for damaged and unusual inputs found by fuzzing the clip and media readers: each
was a crash, a silent wrong answer or a misleading error; each now reads right or fails in one line."""

from __future__ import annotations

import os
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from aether.core.clip import clip_length, load_clip, load_frames
from aether.core.errors import ClipError
from aether.core.media import read_array, read_rgb, read_video, write_png

H, W = 6, 8


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        pytest.skip("no ffmpeg binary")


def refused(path, message: str, read=load_clip) -> str:
    with pytest.raises(ClipError) as info:
        read(path)
    text = str(info.value)
    assert message in text and "\n" not in text, text
    return text


def clip_folder(root: Path, n: int = 3) -> Path:
    for i in range(n):
        write_png(root / "rgb" / f"{i:03d}.png", np.full((H, W, 3), 40 * i, np.uint8))
    return root


def gif(path: Path, values: list[int], **kwargs) -> Path:
    images = [Image.fromarray(np.full((4, 6, 3), v, np.uint8)) for v in values]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0, **kwargs)
    return path


# ------------------------------------------------------------------------------------------------ videos
def test_a_one_frame_gif_is_one_frame_not_ten(ffmpeg, tmp_path):
    # ffmpeg's constant-rate output repeated the frame over its 100 ms / 200 ms delay at 100 fps
    for name, kwargs in (("plain.gif", {}), ("slow.gif", {"duration": 200})):
        rgb, _ = read_video(gif(tmp_path / name, [90], **kwargs))
        assert rgb.shape == (1, 4, 6, 3) and (rgb == 90).all()


def test_a_variable_rate_gif_gives_each_stored_frame_once(ffmpeg, tmp_path):
    rgb, _ = read_video(gif(tmp_path / "var.gif", [10, 40, 70], duration=[100, 300, 100]))
    assert rgb[:, 0, 0, 0].tolist() == [10, 40, 70]  # was [10, 40, 40, 40, 70]


def test_a_file_without_a_video_stream_says_so(ffmpeg, tmp_path):
    audio = tmp_path / "audio.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.2",
                    str(audio)], check=True)
    refused(audio, "audio.mp4: the file holds no video stream (audio or data only)", load_frames)


# ------------------------------------------------------------------------------------------------ images
COLOUR = (200, 30, 40)


@pytest.mark.parametrize("name, mode, tolerance", [("cmyk.jpg", "CMYK", 3), ("cmyk.tif", "CMYK", 0),
                                                    ("lab.tif", "LAB", 3)])
def test_cmyk_and_lab_frames_read_in_their_true_colours(name, mode, tolerance, tmp_path):
    # the fourth CMYK channel was dropped as if it were alpha: (200, 30, 40) read as (55, 225, 215)
    Image.fromarray(np.full((4, 4, 3), COLOUR, np.uint8)).convert(mode).save(tmp_path / name)
    rgb = read_rgb(tmp_path / name)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - COLOUR).max() <= tolerance, rgb[0, 0]


def _tiff_claiming(path: Path, size: int) -> Path:
    """A 2 x 2 deflated TIFF whose header is patched to claim ``size`` x ``size`` pixels."""
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(path, compression="tiff_deflate")
    data = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257, 278):  # width, height, rows per strip
            struct.pack_into("<H" if kind == 3 else "<I", data, entry + 8, size)
    path.write_bytes(bytes(data))
    return path


def test_an_image_claiming_a_huge_size_is_refused_before_decoding(tmp_path):
    # imageio's TIFF reader returned a 10 GiB array of zeros for this 300-byte file
    (tmp_path / "frames").mkdir()
    start = time.perf_counter()
    refused(_tiff_claiming(tmp_path / "frames" / "0.tif", 60000), "0.tif: the image header claims 3600000000 "
            "pixels, more than the 89478485 a frame may have", read_rgb)
    _tiff_claiming(tmp_path / "frames" / "0.tif", 12000)  # Pillow only warns under its own limit
    refused(tmp_path / "frames", "0.tif: the image header claims 12000 x 12000 pixels, more than the 89478485",
            load_frames)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_a_frame_that_is_no_image_fails_in_one_line(content, tmp_path):
    # imageio's "Could not find a backend" message ran over three lines
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "0.png").write_bytes(content)
    refused(tmp_path / "frames", "0.png: cannot read image (Could not find a backend to open", load_frames)


# ----------------------------------------------------------------------------------------- broken links
def _link(target: Path, link: Path) -> None:
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")


def test_a_broken_link_among_frames_is_refused_not_skipped(tmp_path):
    # the frame was skipped without a word: a clip one frame short
    root = clip_folder(tmp_path / "clip")
    _link(root / "gone.png", root / "rgb" / "001b.png")
    refused(root, "rgb/001b.png: a broken link (its target")
    plain = root / "rgb"
    refused(plain, "001b.png: a broken link", load_frames)


def test_a_broken_camera_link_is_refused_not_skipped(tmp_path):
    root = clip_folder(tmp_path / "clip")
    _link(root / "gone.npy", root / "K.npy")
    refused(root, "K.npy: not a readable .npy array ([Errno 2] No such file or directory")


# -------------------------------------------------------------------------------------------- .npy files
def test_an_npy_header_claiming_terabytes_is_refused_without_allocating(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }".ljust(117) + b"\n"
    (tmp_path / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00" + header)  # was a MemoryError
    refused(tmp_path / "huge.npy", "huge.npy: truncated .npy array: its header says (100000000000,) float64 "
            "(800000000000 bytes) but the file holds 0 bytes of data", read_array)


def test_an_npy_that_is_a_broken_zip_is_refused(tmp_path):
    (tmp_path / "K.npy").write_bytes(b"PK\x03\x04" + bytes(40))  # was zipfile.BadZipFile
    refused(tmp_path / "K.npy", "K.npy: not a readable .npy array (File is not a zip file)", read_array)


# ------------------------------------------------------------------------------------------- clip folders
@pytest.mark.parametrize("text, message", [
    ('{"fps": 1' + "0" * 400 + "}", "field 'fps': expected a number, got 1000"),  # was OverflowError
    ('{"fps": true}', "field 'fps': expected a number, got True"),  # was read as 1 fps
])
def test_meta_json_numbers_that_are_not_frame_rates_are_refused(text, message, tmp_path):
    root = clip_folder(tmp_path / "clip")
    (root / "meta.json").write_text(text)
    refused(root, f"meta.json: {message}")


def _png_depth(root: Path, depth: np.ndarray, meta: str | None = None) -> Path:
    for i in range(3):
        write_png(root / "depth" / f"{i:03d}.png", depth)
    if meta is not None:
        (root / "meta.json").write_text(meta)
    return root


@pytest.mark.parametrize("scale, shown", [("0", "0"), ("-0.001", "-0.001"), ("NaN", "nan")])
def test_a_depth_scale_that_is_not_positive_is_refused(scale, shown, tmp_path):
    # 0 made every depth invalid without a word; -1 and NaN were blamed on the depth maps
    root = _png_depth(clip_folder(tmp_path / "clip"), np.full((H, W), 1000, np.uint16), f'{{"depth_scale": {scale}}}')
    refused(root, f"meta.json: field 'depth_scale': must be a positive number of metres per depth PNG unit, "
            f"got {shown}")


def test_an_8_bit_depth_png_is_refused(tmp_path):
    # a picture of depth: its 0..255 levels were taken as millimetres
    root = _png_depth(clip_folder(tmp_path / "clip"), np.full((H, W), 200, np.uint8))
    refused(root, "depth/000.png: uint8 depth PNG; depth PNGs must be 16-bit integers")


def test_depth_maps_of_another_type_are_refused_not_skipped(tmp_path):
    root = clip_folder(tmp_path / "clip")
    for i in range(3):
        write_png(root / "depth" / f"{i:03d}.jpg", np.full((H, W), 200, np.uint8))
    refused(root, "depth/000.jpg: depth maps must be .npy (metres) or 16-bit .png files")


# -------------------------------------------------------------------------------------------- clip_length
def test_clip_length_does_not_trust_a_header_that_loading_refuses(tmp_path):
    # clip_length returned (3, nan), (3, -5.0) and (0, 10.0) for clips that load_clip refuses
    rgb = np.zeros((3, H, W, 3), np.uint8)
    save_file({"rgb": rgb}, str(tmp_path / "nan.safetensors"), metadata={"fps": "nan"})
    refused(tmp_path / "nan.safetensors", "field 'fps': must be a positive number of at most 960 frames per second, "
            "got nan", clip_length)
    save_file({"rgb": rgb[:0]}, str(tmp_path / "empty.safetensors"), metadata={"fps": "10"})
    refused(tmp_path / "empty.safetensors", "field 'rgb': the clip has no frames", clip_length)
    root = clip_folder(tmp_path / "clip")
    (root / "meta.json").write_text('{"fps": -5}')
    refused(root, "field 'fps': must be a positive number of at most 960 frames per second, got -5.0", clip_length)


# --------------------------------------------------------------------------------- photos and clip fields
def test_a_photo_is_read_upright_as_its_exif_orientation_says(tmp_path):
    # orientation 6: the stored picture is shown turned 90 degrees clockwise; it used to be read as stored
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:20, :32], stored[20:, 32:] = (255, 0, 0), (0, 0, 255)
    photo = Image.fromarray(stored)
    exif = photo.getexif()
    exif[0x0112] = 6
    photo.save(tmp_path / "photo.jpg", exif=exif, quality=100)
    image = read_rgb(tmp_path / "photo.jpg")
    assert image.shape == (64, 40, 3)
    np.testing.assert_allclose(image[2, -3], (255, 0, 0), atol=3)   # top left went to the top right
    np.testing.assert_allclose(image[-3, 2], (0, 0, 255), atol=3)   # bottom right to the bottom left


def test_depth_of_both_kinds_is_refused_not_guessed(tmp_path):
    root = _png_depth(clip_folder(tmp_path / "clip"), np.full((H, W), 1000, np.uint16))
    np.save(root / "depth" / "000.npy", np.ones((H, W), np.float32))
    refused(root, "holds both .npy (1) and .png (3) depth maps; keep one kind")


def test_an_implausible_frame_rate_and_a_mask_of_labels_are_refused(tmp_path):
    root = clip_folder(tmp_path / "clip")
    (root / "meta.json").write_text('{"fps": 1000000}')
    refused(root, "field 'fps': must be a positive number of at most 960 frames per second, got 1000000.0")
    clip = load_clip(clip_folder(tmp_path / "masked"))
    clip.dynamic_mask = np.full((3, H, W), 7, np.uint8)
    with pytest.raises(ClipError, match="field 'dynamic_mask': must hold 0 .static. and 1 .dynamic., found 7"):
        clip.validate()
