"""Videos as people have them: plain folders of frames and video files of the common containers,
written by OpenCV, Pillow and imageio/ffmpeg (not by our writers), read back by ``load_frames`` /
``load_clip`` against the frames they were made from."""

import numpy as np
import pytest
from PIL import Image

from aether.core.clip import DEFAULT_FPS, clip_length, iter_clip_paths, load_clip, load_frames
from aether.core.errors import ClipError
from aether.core.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

cv2 = pytest.importorskip("cv2")  # an aether-codecs dependency, not aether-core's

F, H, W = 12, 32, 48


def smooth_frames(n=F):
    """Gradients that move frame to frame: lossy codecs keep them within a few levels."""
    yy, xx = np.mgrid[:H, :W]
    return np.stack([np.dstack([(xx * 5 + i * 10) % 256, (yy * 7) % 256, np.full((H, W), i * 20)])
                     for i in range(n)]).astype(np.uint8)


def palette_frames(n=F):
    """Blocks of 8 colours: a GIF's palette holds them exactly."""
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (8, 3))
    return np.kron(palette[rng.integers(0, 8, (n, H // 8, W // 8))], np.ones((1, 8, 8, 1))).astype(np.uint8)


def assert_close_in_order(back, frames, mean_tol):
    """Same shape, every frame within ``mean_tol`` levels on average and nearest its own source frame."""
    assert back.shape == frames.shape and back.dtype == np.uint8
    error = np.abs(back[:, None].astype(int) - frames[None].astype(int)).mean(axis=(2, 3, 4))  # (read, source)
    assert (np.diag(error) < mean_tol).all(), np.diag(error)
    np.testing.assert_array_equal(error.argmin(axis=1), np.arange(len(frames)))


# ------------------------------------------------------------------------------------------- folders
def test_png_folder_from_opencv_is_exact_at_the_default_fps(tmp_path):
    frames = smooth_frames()
    for i, frame in enumerate(frames, start=1):
        assert cv2.imwrite(str(tmp_path / f"{i:06d}.png"), frame[..., ::-1])  # OpenCV writes BGR
    rgb, fps = load_frames(tmp_path)
    np.testing.assert_array_equal(rgb, frames)
    assert fps is None  # a folder states no frame rate; the caller picks
    clip = load_clip(tmp_path)
    assert clip.fps == DEFAULT_FPS and clip.source == tmp_path.name
    assert iter_clip_paths(tmp_path) == [tmp_path] and clip_length(tmp_path) == (F, DEFAULT_FPS)


def test_jpg_frames_are_in_natural_order(tmp_path):
    frames = smooth_frames()
    for i, frame in enumerate(frames):  # frame_0 ... frame_11: frame_10 sorts before frame_2 by name
        Image.fromarray(frame).save(tmp_path / f"frame_{i}.jpg", quality=95)
    rgb, _ = load_frames(tmp_path)
    assert_close_in_order(rgb, frames, mean_tol=3)


def test_sixteen_bit_rgba_and_gray_frames_become_8_bit_rgb(tmp_path):
    frames = smooth_frames(4)
    low = np.random.default_rng(0).integers(0, 256, frames.shape)
    colour16 = (frames.astype(np.uint16) << 8) + low.astype(np.uint16)  # 8-bit value in the high byte
    assert cv2.imwrite(str(tmp_path / "0.png"), colour16[0][..., ::-1])  # 16-bit colour PNG
    alpha = np.full((H, W, 1), 9, np.uint8)
    Image.fromarray(np.concatenate([frames[1], alpha], axis=-1), "RGBA").save(tmp_path / "1.png")
    Image.fromarray(frames[2, ..., 0], "L").save(tmp_path / "2.png")  # 8-bit gray
    assert cv2.imwrite(str(tmp_path / "3.png"), colour16[3, ..., 0])  # 16-bit gray
    rgb, _ = load_frames(tmp_path)
    expected = frames.copy()
    expected[2:] = frames[2:, ..., :1]  # gray frames: the first channel, repeated
    np.testing.assert_array_equal(rgb, expected)


def test_other_image_types_read_exactly(tmp_path):
    frames = smooth_frames(len(IMAGE_SUFFIXES))
    for i, (frame, suffix) in enumerate(zip(frames, IMAGE_SUFFIXES)):
        if suffix in (".jpg", ".jpeg"):
            continue
        params = [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else []  # above 100: lossless
        assert cv2.imwrite(str(tmp_path / f"{i}{suffix}"), frame[..., ::-1], params)
    rgb, _ = load_frames(tmp_path)
    keep = [i for i, suffix in enumerate(IMAGE_SUFFIXES) if suffix not in (".jpg", ".jpeg")]
    np.testing.assert_array_equal(rgb, frames[keep])


def test_a_clip_folder_wins_over_images_beside_rgb(tmp_path):
    frames = smooth_frames(3)
    (tmp_path / "rgb").mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / "rgb" / f"{i}.png"), frame[..., ::-1])
    cv2.imwrite(str(tmp_path / "cover.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "meta.json").write_text('{"fps": 7.5}')
    rgb, fps = load_frames(tmp_path)
    np.testing.assert_array_equal(rgb, frames)
    assert fps == 7.5


def test_a_folder_of_clips_stays_a_folder_of_clips(tmp_path):
    from aether.core.clip import Clip, save_clip

    save_clip(Clip(rgb=smooth_frames(2), fps=10.0), tmp_path / "a.safetensors")
    cv2.imwrite(str(tmp_path / "preview.png"), smooth_frames(1)[0])
    assert iter_clip_paths(tmp_path) == [tmp_path / "a.safetensors"]
    (tmp_path / "empty").mkdir()
    assert iter_clip_paths(tmp_path / "empty") == []


def _write_frames(folder, frames):
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame[..., ::-1])
    return folder


BAD_FOLDERS = {
    "no images": (lambda root: (root.mkdir(), (root / "notes.txt").write_text("x")),
                  "no image frames (.png, .jpg"),
    "mixed sizes": (lambda root: (_write_frames(root, smooth_frames(2)),
                                  cv2.imwrite(str(root / "002.png"), np.zeros((16, 16, 3), np.uint8))),
                    "002.png: frame of shape (16, 16, 3) differs from 000.png's (32, 48, 3)"),
    "an unreadable frame": (lambda root: (_write_frames(root, smooth_frames(2)),
                                          (root / "002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")),
                            "002.png: cannot read image"),
    "float frames": (lambda root: (root.mkdir(), cv2.imwrite(str(root / "0.tif"), np.zeros((4, 4, 3), np.float32))),
                     "0.tif: float32 pixels; colour frames must be 8- or 16-bit"),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_bad_frame_folders_fail_in_one_line_naming_the_file(case, tmp_path):
    make, message = BAD_FOLDERS[case]
    make(tmp_path / "frames")
    with pytest.raises(ClipError) as info:
        load_frames(tmp_path / "frames")
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_hidden_files_are_not_frames(tmp_path):
    frames = smooth_frames(2)
    _write_frames(tmp_path / "f", frames)
    (tmp_path / "f" / "._000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # what macOS copies leave
    np.testing.assert_array_equal(load_frames(tmp_path / "f")[0], frames)


# --------------------------------------------------------------------------------------------- videos
def _opencv(path, fourcc, fps, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert writer.isOpened(), f"OpenCV cannot write {path.name}"
    for frame in frames:
        writer.write(frame[..., ::-1])
    writer.release()


def _imageio_ffmpeg(path, fps, frames, codec, *params):
    import imageio.v2 as imageio

    with imageio.get_writer(path, format="FFMPEG", fps=fps, codec=codec, macro_block_size=1,
                            output_params=list(params), ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)


def _gif(path, fps, frames):
    import imageio.v3 as iio

    iio.imwrite(path, frames, plugin="pillow", duration=1000 / fps, loop=0)


# name -> (write it, fps, mean error allowed; 0 = lossless)
VIDEOS = {
    "clip.avi": (lambda p, fps, f: _opencv(p, "MJPG", fps, f), 7.0, 4),
    "clip.mp4": (lambda p, fps, f: _opencv(p, "mp4v", fps, f), 15.0, 4),
    "clip.mov": (lambda p, fps, f: _opencv(p, "mp4v", fps, f), 24.0, 4),
    "clip.m4v": (lambda p, fps, f: _opencv(p, "mp4v", fps, f), 10.0, 4),
    "clip.mkv": (lambda p, fps, f: _imageio_ffmpeg(p, fps, f, "ffv1", "-pix_fmt", "bgr0"), 9.0, 0),
    "clip.webm": (lambda p, fps, f: _imageio_ffmpeg(p, fps, f, "libvpx-vp9", "-lossless", "1"), 11.0, 4),
    "clip.gif": (_gif, 10.0, 0),
}


@pytest.mark.parametrize("name", VIDEOS)
def test_video_files_read_back_with_their_frame_rate(name, tmp_path):
    write, fps, tolerance = VIDEOS[name]
    frames = palette_frames() if name.endswith(".gif") else smooth_frames()
    write(tmp_path / name, fps, frames)
    rgb, stated = load_frames(tmp_path / name)
    assert stated == fps
    if tolerance:
        assert_close_in_order(rgb, frames, mean_tol=tolerance)
    else:
        np.testing.assert_array_equal(rgb, frames)
    assert load_clip(tmp_path / name).fps == fps


def test_every_video_suffix_is_tested():
    assert {name[name.index("."):] for name in VIDEOS} == set(VIDEO_SUFFIXES)


def test_a_phone_video_comes_out_upright_without_a_warning(tmp_path, caplog):
    import subprocess

    import imageio_ffmpeg

    frames = smooth_frames()
    _opencv(tmp_path / "stored.mp4", "mp4v", 30.0, frames)
    # what a phone does: store the frames as shot and a display rotation in the container
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-display_rotation", "90", "-i",
                    str(tmp_path / "stored.mp4"), "-c", "copy", str(tmp_path / "phone.mov")], check=True)
    with caplog.at_level("WARNING"):
        rgb, fps = load_frames(tmp_path / "phone.mov")
    assert fps == 30.0 and not caplog.records, caplog.text
    assert_close_in_order(rgb, np.rot90(frames, 1, axes=(1, 2)), mean_tol=4)  # 90 degrees counter-clockwise


def test_an_unknown_suffix_lists_the_supported_ones(tmp_path):
    (tmp_path / "clip.flv").write_bytes(b"FLV")
    with pytest.raises(ClipError) as info:
        load_frames(tmp_path / "clip.flv")
    assert "clip.flv: unknown clip type '.flv'" in str(info.value)
    assert all(suffix in str(info.value) for suffix in VIDEO_SUFFIXES)


def test_an_undecodable_video_names_the_file_in_one_line(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(bytes(4096))
    with pytest.raises(ClipError) as info:
        load_frames(tmp_path / "broken.mp4")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'broken.mp4'}: cannot decode video (") and "\n" not in message
