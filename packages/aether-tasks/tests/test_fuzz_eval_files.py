"""Damaged and malformed evaluation inputs found by fuzzing the ``aether eval`` / ``aether benchmark`` readers:
each used to escape as a traceback or to be scored silently; now one ``error:`` line naming the file, or the
right number."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from aether.codecs.cameras import write_tum
from aether.core.cli import main


def _error(capsys, argv: list) -> str:
    """Run the CLI, expect exit status 2 and return its one ``error:`` line."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def _metrics(tmp_path: Path, argv: list) -> dict:
    out = tmp_path / "metrics.json"
    assert main([str(a) for a in argv] + ["--out", str(out)]) == 0
    return json.loads(out.read_text())


def _trajectory(count: int) -> np.ndarray:
    """A moving c2w trajectory ``(count, 4, 4)``: a quarter turn about z while going along x and y."""
    c2w = np.tile(np.eye(4), (count, 1, 1))
    angles = np.linspace(0, np.pi / 2, count)
    c2w[:, 0, 0], c2w[:, 0, 1], c2w[:, 1, 0], c2w[:, 1, 1] = np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)
    c2w[:, :3, 3] = np.stack([np.arange(count), np.arange(count) ** 2 / 4, np.zeros(count)], 1)
    return c2w


GT_DEPTH = np.arange(1, 49, dtype=np.float64).reshape(2, 4, 6) / 4  # 0.25 .. 12 m


# ----------------------------------------------------------------------------------------------- depth files
def test_dpt_header_claiming_a_huge_map_gives_the_true_byte_count(tmp_path, capsys):
    """The header's int32 width x height used to overflow in the message (a RuntimeWarning and a wrong,
    even negative, byte count); a negative size read 'needs -180 bytes'."""
    tag = np.float32(202021.25).tobytes()
    (tmp_path / "huge.dpt").write_bytes(tag + np.array([100000, 100000], "<i4").tobytes() + bytes(16))
    (tmp_path / "neg.dpt").write_bytes(tag + np.array([-8, 6], "<i4").tobytes() + bytes(192))
    np.save(tmp_path / "pred.npy", GT_DEPTH[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        err = _error(capsys, ["eval", "depth", tmp_path / "pred.npy", tmp_path / "huge.dpt"])
    assert f"{tmp_path / 'huge.dpt'}: a 100000x100000 .dpt needs 40000000012 bytes; the file has 28" in err
    err = _error(capsys, ["eval", "depth", tmp_path / "pred.npy", tmp_path / "neg.dpt"])
    assert f"{tmp_path / 'neg.dpt'}: the .dpt header gives a -8x6 map" in err


@pytest.mark.parametrize("array, dtype", [(np.array([["a", "b"]]), "<U1"), (GT_DEPTH + 1j, "complex128")])
def test_npz_depth_that_is_not_real_numbers_is_refused(tmp_path, capsys, array, dtype):
    """Strings in an .npz escaped as NumPy's ValueError; complex depth lost its imaginary part with a warning."""
    np.savez(tmp_path / "pred.npz", depth=array)
    np.save(tmp_path / "gt.npy", GT_DEPTH)
    err = _error(capsys, ["eval", "depth", tmp_path / "pred.npz", tmp_path / "gt.npy"])
    assert f"{tmp_path / 'pred.npz'}: array 'depth' is {dtype}; depth must be a real numeric array" in err


def test_npz_naming_no_depth_array_is_not_reported_as_unreadable(tmp_path, capsys):
    """The 'name the depth one' message used to be wrapped in 'not a readable .npz ... pickled data'."""
    np.savez(tmp_path / "pred.npz", a=GT_DEPTH, b=GT_DEPTH)
    np.save(tmp_path / "gt.npy", GT_DEPTH)
    err = _error(capsys, ["eval", "depth", tmp_path / "pred.npz", tmp_path / "gt.npy"])
    assert err == f"error: {tmp_path / 'pred.npz'}: holds arrays ['a', 'b']; name the depth one 'depth'\n"


def test_upper_case_npy_suffixes_are_read(tmp_path):
    """``X.NPY`` was opened as an .npz (a TypeError) for depth and read as text (UnicodeDecodeError) for poses."""
    with open(tmp_path / "PRED.NPY", "wb") as file:
        np.save(file, 3 * GT_DEPTH)
    np.save(tmp_path / "gt.npy", GT_DEPTH)
    depth = _metrics(tmp_path, ["eval", "depth", tmp_path / "PRED.NPY", tmp_path / "gt.npy", "--align", "scale"])
    assert depth["abs_rel"] == pytest.approx(0, abs=1e-12) and depth["scale"] == pytest.approx(1 / 3)
    c2w = _trajectory(6)
    with open(tmp_path / "EST.NPY", "wb") as file:
        np.save(file, c2w)
    np.save(tmp_path / "gt_c2w.npy", c2w)
    pose = _metrics(tmp_path, ["eval", "pose", tmp_path / "EST.NPY", tmp_path / "gt_c2w.npy"])
    assert pose["pairs"] == 6 and pose["ate"] == pytest.approx(0, abs=1e-9)


def test_depth_maps_of_zero_width_are_one_line_errors(tmp_path, capsys):
    """An (F, H, 0) map reached cv2.resize, whose cv2.error escaped as a traceback."""
    np.save(tmp_path / "empty.npy", np.zeros((2, 4, 0)))
    np.save(tmp_path / "gt.npy", GT_DEPTH)
    for pred, gt in (("empty.npy", "gt.npy"), ("gt.npy", "empty.npy")):
        err = _error(capsys, ["eval", "depth", tmp_path / pred, tmp_path / gt])
        assert "depth must be (F, H, W) or (H, W) with H, W >= 1; got shape (2, 4, 0)" in err


@pytest.mark.parametrize("listed", [5, None, ["result_depth.npy"], ""])
def test_manifest_listing_no_file_name_is_one_line_error(tmp_path, capsys, listed):
    """A damaged aether manifest (``files.depth`` not a string) escaped as a TypeError."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "result.json").write_text(json.dumps({"files": {"depth": listed, "trajectory_tum": listed}}))
    np.save(tmp_path / "gt.npy", GT_DEPTH)
    err = _error(capsys, ["eval", "depth", tmp_path / "out", tmp_path / "gt.npy"])
    assert f"{tmp_path / 'out' / 'result.json'}: 'files' lists 'depth' as {listed!r}, not a file name" in err
    np.save(tmp_path / "c2w.npy", _trajectory(5))
    err = _error(capsys, ["eval", "pose", tmp_path / "out", tmp_path / "c2w.npy"])
    assert "'files' lists 'trajectory_tum' as" in err


# ----------------------------------------------------------------------------------------------- trajectories
def test_tum_file_with_a_word_is_one_line_error(tmp_path, capsys):
    """read_tum's NumPy ValueError escaped ('could not convert string to float')."""
    write_tum(tmp_path / "gt.txt", np.arange(5) / 30, _trajectory(5))
    lines = (tmp_path / "gt.txt").read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split()[2], "n/a")
    (tmp_path / "bad.txt").write_text("\n".join(lines) + "\n")
    err = _error(capsys, ["eval", "pose", tmp_path / "gt.txt", tmp_path / "bad.txt"])
    assert err == f"error: {tmp_path / 'bad.txt'}: holds a value that is not a number\n"
    lines[3] = " ".join(["0.1", "0", "0", "0"] + ["0"] * 4)  # a zero quaternion: was an error naming no file
    (tmp_path / "bad.txt").write_text("\n".join(lines) + "\n")
    err = _error(capsys, ["eval", "pose", tmp_path / "gt.txt", tmp_path / "bad.txt"])
    assert f"{tmp_path / 'bad.txt'}: line 4 has the quaternion 0 0 0 0" in err


def test_binary_trajectory_files_are_one_line_errors(tmp_path, capsys):
    """A non-UTF-8 TUM file or per-frame pose file escaped as UnicodeDecodeError."""
    np.save(tmp_path / "est.npy", _trajectory(3))
    (tmp_path / "gt.txt").write_bytes(b"\xff\xfe\x00\x011 2 3")
    err = _error(capsys, ["eval", "pose", tmp_path / "est.npy", tmp_path / "gt.txt"])
    assert f"{tmp_path / 'gt.txt'}: not a text file (not UTF-8)" in err
    (tmp_path / "pose").mkdir()
    for i, pose in enumerate(_trajectory(3)):
        np.savetxt(tmp_path / "pose" / f"{i}.txt", pose)
    (tmp_path / "pose" / "1.txt").write_bytes(b"\x80" * 16)
    err = _error(capsys, ["eval", "pose", tmp_path / "est.npy", tmp_path / "pose"])
    assert f"{tmp_path / 'pose' / '1.txt'}: not a text file (not UTF-8)" in err


def test_empty_npy_trajectory_is_one_line_error(tmp_path, capsys):
    """Two (0, 4, 4) arrays reached the pose check, whose reshape raised ValueError."""
    np.save(tmp_path / "none.npy", np.zeros((0, 4, 4)))
    err = _error(capsys, ["eval", "pose", tmp_path / "none.npy", tmp_path / "none.npy"])
    assert f"{tmp_path / 'none.npy'}: a .npy trajectory must be c2w (N, 4, 4) with N >= 1; got (0, 4, 4)" in err


def test_scannet_minus_inf_poses_name_the_file_and_line(tmp_path, capsys):
    """ScanNet marks frames without a pose with -inf: refused naming the file and line (was 'ground-truth poses:
    non-finite values', no file), never skipped, which would pair later poses with the wrong frames."""
    rows = _trajectory(6).reshape(6, 16)
    rows[2] = -np.inf
    np.savetxt(tmp_path / "pose_90.txt", rows)
    np.save(tmp_path / "est.npy", _trajectory(6))
    err = _error(capsys, ["eval", "pose", tmp_path / "est.npy", tmp_path / "pose_90.txt"])
    assert f"{tmp_path / 'pose_90.txt'}: line 3 holds non-finite values (ScanNet marks" in err
    (tmp_path / "pose").mkdir()
    for i, pose in enumerate(rows.reshape(6, 4, 4)):
        np.savetxt(tmp_path / "pose" / f"{i}.txt", pose)
    err = _error(capsys, ["eval", "pose", tmp_path / "est.npy", tmp_path / "pose"])
    assert f"{tmp_path / 'pose' / '2.txt'}: its matrix holds non-finite values" in err


def test_duplicate_timestamps_are_refused_when_pairing_by_time(tmp_path, capsys):
    """Stamp 3 overwritten by stamp 2: two poses at one time were paired arbitrarily and frame 3 dropped
    (pairs 9, a wrong ATE); now refused, while pairing by index still compares the frames."""
    t, c2w = np.arange(10) / 30, _trajectory(10)
    write_tum(tmp_path / "est.txt", t, c2w)
    dup = t.copy()
    dup[3] = dup[2]
    write_tum(tmp_path / "gt.txt", dup, c2w)
    err = _error(capsys, ["eval", "pose", tmp_path / "est.txt", tmp_path / "gt.txt"])
    assert "the ground-truth trajectory holds 1 timestamp(s) with more than one pose (first 0.066667 s)" in err
    metrics = _metrics(tmp_path, ["eval", "pose", tmp_path / "est.txt", tmp_path / "gt.txt", "--match", "index"])
    assert metrics["pairs"] == 10 and metrics["ate"] == pytest.approx(0, abs=1e-7)


@pytest.mark.parametrize("align", ["sim3", "scale"])
def test_still_ground_truth_cannot_be_sim3_aligned(tmp_path, capsys, align):
    """A ground truth that never moves made the fitted scale 0: any estimate shrank onto it, ATE 0."""
    np.save(tmp_path / "est.npy", _trajectory(8))
    np.save(tmp_path / "gt.npy", np.tile(np.eye(4), (8, 1, 1)))
    err = _error(capsys, ["eval", "pose", tmp_path / "est.npy", tmp_path / "gt.npy", "--align", align])
    assert f"the ground-truth camera does not move over the 8 paired poses, so a {align} alignment" in err
    # se3 keeps the estimate's size: the error is the estimate's spread about its centroid
    metrics = _metrics(tmp_path, ["eval", "pose", tmp_path / "est.npy", tmp_path / "gt.npy", "--align", "se3"])
    centred = _trajectory(8)[:, :3, 3] - _trajectory(8)[:, :3, 3].mean(0)
    assert metrics["ate"] == pytest.approx(np.sqrt((centred ** 2).sum(1).mean()), rel=1e-9)


# ----------------------------------------------------------------------------------------------- benchmark
def _pose_data(fakes, root: Path, pred: Path) -> np.ndarray:
    c2w = fakes.trajectory(6, 0)
    fakes.write_sintel_cameras(root, "alley_2", fakes.frames(6, 4, 4, 0), c2w)
    (pred / "sintel").mkdir(parents=True)
    np.save(pred / "sintel" / "alley_2.npy", fakes.similar(c2w, 2.0, 1))
    return c2w


def _benchmark(task: str, root: Path, out: Path, pred: Path, datasets: str) -> int:
    return main(["benchmark", task, "--data", str(root), "--out", str(out), "--pred", str(pred), "--datasets",
                 datasets, "--no-progress"])


def test_sintel_cam_with_a_singular_pose_is_one_line_error(fakes, tmp_path, capsys):
    """A zeroed world-to-camera matrix escaped as numpy's LinAlgError ('Singular matrix')."""
    root, pred = tmp_path / "data", tmp_path / "pred"
    _pose_data(fakes, root, pred)
    cam = root / "sintel/training/camdata_left/alley_2/frame_0003.cam"
    cam.write_bytes(cam.read_bytes()[:4 + 72] + bytes(96))
    assert _benchmark("pose", root, tmp_path / "out", pred, "sintel") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{cam}: the world-to-camera matrix is not a finite rotation" in err


def test_ground_truth_must_match_the_frames(fakes, tmp_path, capsys):
    """A missing ground-truth pose or depth map, or depth of another size than the frames, was scored
    silently whenever the prediction matched the ground truth (or blamed the prediction)."""
    root, pred = tmp_path / "data", tmp_path / "pred"
    c2w = _pose_data(fakes, root, pred)
    cams = root / "sintel/training/camdata_left/alley_2"
    (cams / "frame_0006.cam").unlink()
    np.save(pred / "sintel" / "alley_2.npy", c2w[:5])
    assert _benchmark("pose", root, tmp_path / "out", pred, "sintel") == 2
    err = capsys.readouterr().err
    assert f"{cams}: 5 ground-truth poses for 6 frames in {root / 'sintel/training/final/alley_2'}" in err

    png = np.full((2, 8, 12), 5000)  # depth maps of 12x8 for frames of 6x4
    fakes.write_bonn(root, "balloon2", fakes.frames(2, 4, 6, 0), png)
    (pred / "bonn").mkdir()
    np.save(pred / "bonn" / "balloon2.npy", np.ones((2, 8, 12)))
    assert _benchmark("depth", root, tmp_path / "out", pred, "bonn") == 2
    err = capsys.readouterr().err
    depth = root / "bonn/rgbd_bonn_dataset/rgbd_bonn_balloon2/depth_110"
    assert err.count("\n") == 1 and f"{depth}: ground-truth depth is 12x8 but the frames in" in err
    assert "are 6x4" in err
    fakes.write_bonn(root, "balloon2", fakes.frames(3, 8, 12, 0), png)  # frames of the right size, one too many
    assert _benchmark("depth", root, tmp_path / "out", pred, "bonn") == 2
    err = capsys.readouterr().err
    assert f"{depth}: 2 ground-truth depth maps for 3 frames in {depth.parent / 'rgb_110'}" in err
