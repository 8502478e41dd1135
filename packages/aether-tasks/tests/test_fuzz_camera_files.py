"""Damaged and malformed camera files (TUM, COLMAP text and binary, NeRF transforms.json, raymaps) found by
fuzzing `aether camera` and `aether predict --trajectory`: each is either read correctly or refused with
exit status 2 and one `error:` line that names the file; none escapes as a traceback or gives NaN poses."""

import json
import struct

import numpy as np
import pytest

from aether.core.cli import main

GOOD_TUM = "0 0 0 0 0 0 0 1\n1 0.5 0 0 0 0 0 1\n2 1.0 0 0 0 0 0 1\n"
CAMERAS_TXT = "# Camera list\n1 PINHOLE 640 480 500 500 320 240\n"
IMAGES_TXT = "# Image list\n1 1 0 0 0 0 0 0 1 a.jpg\n\n2 1 0 0 0 0.5 0 0 1 b.jpg\n10 20 -1\n"


def one_line_error(capsys, argv, *needles):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert str(needle) in lines[0], err


def convert(capsys, source, out, *options):
    code = main(["camera", "convert", str(source), str(out), "--to", "npy", *options])
    assert code == 0, capsys.readouterr().err
    return np.load(out)


def translations_x(*xs):
    c2w = np.tile(np.eye(4), (len(xs), 1, 1))
    c2w[:, 0, 3] = xs
    return c2w


# ---------------------------------------------------------------------------------------------- TUM files
@pytest.mark.parametrize("content, message", [
    ("0 0 0 0 0 0 0 1\n1 0 0 abc 0 0 0 1\n", "line 2: 'abc' is not a number"),  # was a NumPy ValueError
    ("0 0 0 0 0 0 0 1\n1 0 0 0x1 0 0 0 1\n", "line 2: '0x1' is not a number"),
    ("0 0 0 0 0 0 0 1\n1 1_0 0 0 0 0 0 1\n", "line 2: '1_0' is not a number"),  # float() read it as 10
    ("# t x y z qx qy qz qw\nnan 0 0 0 0 0 0 1\n1 0 0 0 0 0 0 1\n", "line 2: NaN or infinite"),  # was kept
    ("0 0 0 0 0 0 0 1\ninf 0 0 0 0 0 0 1\n", "line 2: NaN or infinite"),
    ("0 0 0 0 0 0 0 1\n1 0 0 0 0 0 0 0\n", "line 2: the quaternion (qx qy qz qw) is zero"),
])
def test_bad_tum_values_are_one_line_errors_naming_the_line(tmp_path, capsys, content, message):
    path = tmp_path / "path.txt"
    path.write_text(content)
    for options in ((), ("--from", "tum")):
        one_line_error(capsys, ["camera", "convert", path, tmp_path / "o.npy", "--to", "npy", *options],
                       path, message)
    assert not (tmp_path / "o.npy").exists()


def test_predict_refuses_a_bad_trajectory_before_loading_the_model(tmp_path, capsys):
    from aether.core.media import write_png

    image = write_png(tmp_path / "first.png", np.zeros((32, 48, 3), np.uint8))
    (tmp_path / "words.txt").write_text("0 0 0 0 0 0 0 1\n1 0 0 x 0 0 0 1\n")
    (tmp_path / "latin1.txt").write_bytes(b"# cam\xe9ra\n0 0 0 0 0 0 0 1\n")
    for name, message in (("words.txt", "line 2: 'x' is not a number"), ("latin1.txt", "not UTF-8 text")):
        one_line_error(capsys, ["predict", image, "--trajectory", tmp_path / name, "--model", tmp_path / "none",
                                "--out", tmp_path / "out"], tmp_path / name, message)


@pytest.mark.parametrize("fmt", [(), ("--from", "tum")])
def test_a_tum_file_that_is_not_utf8_is_a_one_line_error(tmp_path, capsys, fmt):
    """Was a UnicodeDecodeError traceback, both in telling the format apart and in read_tum."""
    path = tmp_path / "path.txt"
    path.write_bytes(GOOD_TUM.encode() + b"# caf\xe9\n")
    one_line_error(capsys, ["camera", "show", path, *fmt], path, "not UTF-8 text (byte")


def test_tum_written_by_windows_tools_with_a_bom_and_crlf_is_read(tmp_path, capsys):
    """A UTF-8 byte-order mark made the first timestamp '\\ufeff0', a NumPy ValueError traceback."""
    path = tmp_path / "path.txt"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_TUM.replace("\n", "\r\n").encode())
    np.testing.assert_allclose(convert(capsys, path, tmp_path / "o.npy"), translations_x(0, 0.5, 1.0), atol=1e-12)


@pytest.mark.parametrize("content", ["0 0 0 0 0 0 0 1\n0 0.5 0 0 0 0 0 1\n", "1 0 0 0 0 0 0 1\n0 0.5 0 0 0 0 0 1\n"])
def test_tum_timestamps_that_repeat_or_go_back_are_refused(tmp_path, capsys, content):
    """Frames are taken in file order; a repeated or decreasing time is a shuffled or damaged file."""
    path = tmp_path / "path.txt"
    path.write_text(content)
    one_line_error(capsys, ["camera", "convert", path, tmp_path / "o.txt", "--to", "tum"], path,
                   "timestamps must increase, but pose 2")


def test_positions_that_overflow_when_made_relative_are_refused(tmp_path, capsys):
    """1e308 - (-1e308) is inf: the converted path held inf with exit status 0."""
    path = tmp_path / "path.txt"
    path.write_text("0 -1e308 0 0 0 0 0 1\n1 1e308 0 0 0 0 0 1\n")
    one_line_error(capsys, ["camera", "convert", path, tmp_path / "o.npy", "--to", "npy"], path,
                   "camera positions too large")
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("fps", ["0", "-2", "nan"])
def test_fps_that_would_write_nan_or_decreasing_timestamps_is_refused(tmp_path, capsys, fps):
    np.save(tmp_path / "poses.npy", translations_x(0, 0.5, 1.0))
    one_line_error(capsys, ["camera", "convert", tmp_path / "poses.npy", tmp_path / "o.txt", "--to", "tum",
                            "--fps", fps], "--fps")
    assert not (tmp_path / "o.txt").exists()


def test_write_tum_refuses_what_it_could_not_read_back(tmp_path):
    from aether.codecs.cameras import write_tum
    from aether.codecs.errors import CodecError

    with pytest.raises(CodecError, match="NaN or infinite"):
        write_tum(tmp_path / "t.txt", [0.0, np.nan], translations_x(0, 1))
    with pytest.raises(CodecError, match=r"pose 1 has no rotation to write \(det 0"):
        write_tum(tmp_path / "t.txt", [0.0, 1.0], np.stack([np.eye(4), np.diag([0.0, 0.0, 0.0, 1.0])]))
    assert not (tmp_path / "t.txt").exists()


# ------------------------------------------------------------------------------------- COLMAP text models
def colmap_text(folder, cameras=CAMERAS_TXT, images=IMAGES_TXT):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text(cameras)
    (folder / "images.txt").write_text(images)
    return folder


@pytest.mark.parametrize("cameras, message", [
    ("1 PINHOLE\n", "cameras.txt, line 1: a camera line holds"),  # was an IndexError traceback
    ("1 PINHOLE 640 480 500 500 320 240\n1 PINHOLE 640 480 400 400 320 240\n", "camera id 1 is defined twice"),
    ("1 PINHOLE 640 480 nan 500 320 240\n", "fx nan"),  # these four were converted with exit status 0
    ("1 PINHOLE 640 480 -500 500 320 240\n", "fx -500"),
    ("1 PINHOLE 640 480 0 500 320 240\n", "fx 0"),  # `camera show` crashed with LinAlgError
    ("1 PINHOLE 0 0 500 500 320 240\n", "image size 0x0"),  # `camera show` crashed with ZeroDivisionError
])
def test_damaged_colmap_cameras_txt_is_a_one_line_error(tmp_path, capsys, cameras, message):
    folder = colmap_text(tmp_path / "sparse" / "0", cameras=cameras)
    for command in (["convert", tmp_path, tmp_path / "o.npy", "--to", "npy"], ["show", tmp_path]):
        one_line_error(capsys, ["camera", *command], folder, message)


def test_colmap_images_txt_without_points_lines_is_refused_not_halved(tmp_path, capsys):
    """Without the POINTS2D lines every second image was taken for a points line: 4 images gave 2 frames."""
    images = "".join(f"{i} 1 0 0 0 {i / 10} 0 0 1 f{i}.jpg\n" for i in range(1, 5))
    folder = colmap_text(tmp_path / "m", images=images)
    one_line_error(capsys, ["camera", "convert", folder, tmp_path / "o.npy", "--to", "npy"],
                   folder / "images.txt", "line 2: expected the POINTS2D line of image 1")


def test_colmap_images_with_one_name_twice_are_refused(tmp_path, capsys):
    images = "1 1 0 0 0 0 0 0 1 a.jpg\n\n2 1 0 0 0 0.5 0 0 1 a.jpg\n\n"
    folder = colmap_text(tmp_path / "m", images=images)
    one_line_error(capsys, ["camera", "convert", folder, tmp_path / "o.npy", "--to", "npy"], folder,
                   "image name 'a.jpg' appears twice")


def test_colmap_zero_quaternion_names_the_model(tmp_path, capsys):
    folder = colmap_text(tmp_path / "m", images="1 0 0 0 0 0 0 0 1 a.jpg\n\n")
    one_line_error(capsys, ["camera", "convert", folder, tmp_path / "o.npy", "--to", "npy"], folder,
                   "image 'a.jpg' has a pose with NaN/inf values or a zero quaternion")


def test_colmap_text_with_a_bom_is_read(tmp_path, capsys):
    folder = colmap_text(tmp_path / "m", cameras="\ufeff" + CAMERAS_TXT, images="\ufeff" + IMAGES_TXT)
    np.testing.assert_allclose(convert(capsys, folder, tmp_path / "o.npy"), translations_x(0, -0.5), atol=1e-12)


# ----------------------------------------------------------------------------------- COLMAP binary models
def cameras_bin(width=640, height=480, params=(500.0, 500.0, 320.0, 240.0)):
    return struct.pack("<Q", 1) + struct.pack("<iiQQ", 1, 1, width, height) + struct.pack("<4d", *params)


def image_record(image_id, tx, name, num_points=0):
    return (struct.pack("<I7dI", image_id, 1, 0, 0, 0, tx, 0, 0, 1) + name + b"\x00"
            + struct.pack("<Q", num_points) + b"\x00" * 24 * num_points)


def colmap_binary(folder, cameras, images):
    folder.mkdir(parents=True)
    (folder / "cameras.bin").write_bytes(cameras)
    (folder / "images.bin").write_bytes(images)
    return folder


def test_colmap_binary_model_is_read(tmp_path, capsys):
    images = struct.pack("<Q", 2) + image_record(1, 0.0, b"a.jpg", 2) + image_record(2, 0.5, b"b.jpg")
    folder = colmap_binary(tmp_path / "m", cameras_bin(), images)
    np.testing.assert_allclose(convert(capsys, folder, tmp_path / "o.npy"), translations_x(0, -0.5), atol=1e-12)


@pytest.mark.parametrize("images, message", [
    # a count one too small left the second image unread: 1 frame, exit status 0
    (struct.pack("<Q", 1) + image_record(1, 0.0, b"a.jpg") + image_record(2, 0.5, b"b.jpg"),
     "bytes after its last record"),
    # a points count past the end of the file was seeked over: the image was kept
    (struct.pack("<Q", 1) + image_record(1, 0.0, b"a.jpg")[:-8] + struct.pack("<Q", 3), "claims 3 points"),
    (struct.pack("<Q", 2**63) + image_record(1, 0.0, b"a.jpg"), "ends early (truncated at byte"),
])
def test_damaged_colmap_images_bin_is_a_one_line_error(tmp_path, capsys, images, message):
    folder = colmap_binary(tmp_path / "m", cameras_bin(), images)
    one_line_error(capsys, ["camera", "convert", folder, tmp_path / "o.npy", "--to", "npy"],
                   folder / "images.bin", message)


@pytest.mark.parametrize("cameras, message", [
    (cameras_bin(width=2**63), "image size 9223372036854775808x480"),  # was an OverflowError traceback
    (cameras_bin(params=(float("nan"), 500.0, 320.0, 240.0)), "fx nan"),  # was accepted
    (cameras_bin() + b"\x00", "1 bytes after its last record"),
])
def test_damaged_colmap_cameras_bin_is_a_one_line_error(tmp_path, capsys, cameras, message):
    folder = colmap_binary(tmp_path / "m", cameras, struct.pack("<Q", 1) + image_record(1, 0.0, b"a.jpg"))
    one_line_error(capsys, ["camera", "convert", folder, tmp_path / "o.npy", "--to", "npy"], folder, message)


# ------------------------------------------------------------------------------------ transforms.json
def nerf(path, **changes):
    meta = {"camera_angle_x": 0.8, "w": 640, "h": 480,
            "frames": [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}]}
    meta.update(changes)
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"camera_angle_x": "wide"}, "camera_angle_x must be a number, got \"wide\""),  # tracebacks before
    ({"camera_angle_x": [0.8]}, "camera_angle_x must be a number"),
    ({"fl_x": "500"}, "fl_x must be a number"),
    ({"cx": "a"}, "cx must be a number"),
    ({"w": "wide"}, "w must be a number"),
    ({"w": 10**30}, "image size w 1000000000000000000000000000000"),
    ({"w": None, "frames": [{"file_path": 3, "transform_matrix": np.eye(4).tolist()}]}, "file_path must be a string"),
    ({"camera_angle_x": -0.8}, "between 0 and pi, got -0.8"),  # negative, infinite or zero focals accepted
    ({"camera_angle_x": 0}, "between 0 and pi, got 0"),
    ({"fl_x": True}, "fl_x must be a number, got true"),
    ({"fl_x": 0}, "fx 0"),
    ({"w": 0}, "image size w 0"),
    ({"w": 640.5}, "image size w 640.5"),
    # true / false were read as 1 / 0: an identity pose from a broken file
    ({"frames": [{"transform_matrix": [[True, False, False, False]] * 3}]}, "frames[0] needs a transform_matrix"),
])
def test_malformed_transforms_json_fields_are_one_line_errors(tmp_path, capsys, changes, message):
    path = nerf(tmp_path / "transforms.json", **changes)
    one_line_error(capsys, ["camera", "convert", path, tmp_path / "o.npy", "--to", "npy"], path, message)


def test_transforms_json_nested_past_the_recursion_limit_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "transforms.json"
    path.write_text("[" * 100_000 + "]" * 100_000)  # json.loads raised RecursionError
    one_line_error(capsys, ["camera", "show", path], path, "not a NeRF transforms.json")


def test_transforms_json_with_a_bom_is_read(tmp_path, capsys):
    path = nerf(tmp_path / "transforms.json", frames=[
        {"transform_matrix": np.eye(4).tolist()},
        {"transform_matrix": (np.eye(4) + np.eye(4, k=3) * 0.5).tolist()}])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    np.testing.assert_allclose(convert(capsys, path, tmp_path / "o.npy"), translations_x(0, 0.5), atol=1e-12)


# ------------------------------------------------------------------------------------------- raymaps
@pytest.mark.parametrize("rays, message", [
    (np.zeros((0, 6, 2, 2), np.float32), "with F >= 1, got (0, 6, 2, 2)"),  # wrote an empty path
    (np.ones((3, 6, 2, 2), np.int32), "floating-point rays, got dtype int32"),
    (np.zeros((3, 6, 2, 2), np.float32), "decode to no valid camera"),  # ValueError / LinAlgError before
])
@pytest.mark.parametrize("method", ["lstsq", "released"])
def test_raymaps_that_hold_no_cameras_are_refused(tmp_path, capsys, rays, message, method):
    np.save(tmp_path / "rays.npy", rays)
    for out in ("back.txt", "back.npy"):
        one_line_error(capsys, ["camera", "decode", tmp_path / "rays.npy", "--out", tmp_path / out,
                                "--method", method], tmp_path / "rays.npy", message)
        assert not (tmp_path / out).exists()


# ----------------------------------------------------------------------------------------- options
def test_show_refuses_an_empty_size_and_an_infinite_scale(tmp_path, capsys):
    path = tmp_path / "path.txt"
    path.write_text(GOOD_TUM)
    one_line_error(capsys, ["camera", "show", path, "--size", "0", "0"], "--size needs a positive")  # LinAlgError
    # wrote a 7.5 GB raymap
    one_line_error(capsys, ["camera", "raymap", path, "--size", "100000", "100000", "--out", tmp_path / "r.npy"],
                   "is larger than any model's image (at most 8192 a side)")
    assert not (tmp_path / "r.npy").exists()
    one_line_error(capsys, ["camera", "show", path, "--p-max", "inf"], "p_max: Input should be a finite number")
    one_line_error(capsys, ["camera", "show", path, "--scene-depth", "1e-320"], "too small to invert")


def test_indented_comments_are_comments_for_every_trajectory_reader(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("  # timestamp tx ty tz qx qy qz qw\n" + GOOD_TUM.replace("\n1 ", "\n\t# a note\n1 ", 1))
    np.testing.assert_allclose(convert(capsys, path, tmp_path / "c.npy"), translations_x(0, 0.5, 1.0))
    assert main(["eval", "pose", str(path), str(path), "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["pairs"] == 3


def test_a_format_given_with_from_is_the_format_read(tmp_path, capsys):
    # --from kitti read an 8-number TUM file as TUM, --from npy read a text file: the option was ignored
    (tmp_path / "t.txt").write_text(GOOD_TUM)
    one_line_error(capsys, ["camera", "convert", tmp_path / "t.txt", tmp_path / "c.npy", "--to", "npy", "--from",
                            "kitti"], "--from kitti, but the file reads as tum (12 numbers a line expected)")
    one_line_error(capsys, ["camera", "convert", tmp_path / "t.txt", tmp_path / "c.npy", "--to", "npy", "--from",
                            "npy"], "--from npy, but the file reads as tum (a .npy array expected)")
    kitti = tmp_path / "k.txt"
    kitti.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0.5 0 1 0 0 0 0 1 0\n")
    np.testing.assert_allclose(convert(capsys, kitti, tmp_path / "k.npy", "--from", "kitti"), translations_x(0, 0.5))
