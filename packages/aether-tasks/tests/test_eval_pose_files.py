"""`aether eval pose` on trajectory files: readers, evo's timestamp association, alignments, delta and
statistics, cross-checked against evo's own API."""

import copy
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.codecs.cameras import write_tum
from aether.core.cli import main
from aether.tasks.evaluation.association import associate
from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.metrics import pose_metrics
from aether.tasks.evaluation.trajectory_files import read_trajectory

EVO_FLAGS = {"sim3": (True, True), "se3": (True, False), "scale": (False, True), "none": (False, False)}


def path_at(t):
    """A smooth camera path c2w ``(N, 4, 4)`` sampled at times ``t (N,)``."""
    c2w = np.tile(np.eye(4), (len(t), 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.stack([0.3 * np.sin(0.5 * t), 0.2 * np.cos(0.3 * t), 0.1 * t],
                                                   -1)).as_matrix()
    c2w[:, :3, 3] = np.stack([np.sin(t), np.cos(0.7 * t), 0.2 * t], -1)
    return c2w


def estimate_of(t, seed):
    """``path_at(t)`` seen through a Sim(3) (scale 2.5) with position and rotation noise."""
    rng = np.random.default_rng(seed)
    sim3 = np.eye(4)
    sim3[:3, :3] = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    sim3[:3, 3] = [1.0, -2.0, 0.5]
    c2w = sim3 @ path_at(t)
    c2w[:, :3, 3] = 2.5 * c2w[:, :3, 3] + rng.normal(0, 0.02, (len(t), 3))
    c2w[:, :3, :3] = Rotation.from_rotvec(rng.normal(0, 0.01, (len(t), 3))).as_matrix() @ c2w[:, :3, :3]
    return c2w


def jittered(start, stop, rate, rng):
    stamps = np.arange(start, stop, 1 / rate)
    return stamps + rng.uniform(-0.2, 0.2, len(stamps)) / rate


def evo_results(gt_traj, est_traj, max_diff, offset, align, delta):
    """evo's association, then APE / RPE statistics as ``{metric: {stat: value}}`` and the pair count."""
    from evo.core import metrics, sync
    from evo.main_ape import ape
    from evo.main_rpe import rpe

    ref, est = sync.associate_trajectories(gt_traj, est_traj, max_diff=max_diff, offset_2=offset)
    flags = dict(zip(("align", "correct_scale"), EVO_FLAGS[align]))
    rpe_kwargs = dict(delta=delta, delta_unit=metrics.Unit.frames, all_pairs=False, **flags)
    results = {
        "ate": ape(copy.deepcopy(ref), copy.deepcopy(est), metrics.PoseRelation.translation_part, **flags),
        "rpe_trans": rpe(copy.deepcopy(ref), copy.deepcopy(est), metrics.PoseRelation.translation_part,
                         **rpe_kwargs),
        "rpe_rot_deg": rpe(copy.deepcopy(ref), copy.deepcopy(est), metrics.PoseRelation.rotation_angle_deg,
                           **rpe_kwargs),
    }
    return {name: r.stats for name, r in results.items()}, ref.num_poses


def ours_as_stats(metrics):
    return {name: {"rmse": metrics[name], **{s: metrics[f"{name}_{s}"] for s in ("mean", "median", "max")}}
            for name in ("ate", "rpe_trans", "rpe_rot_deg")}


def assert_agrees(ours, theirs):
    for name, stats in ours.items():
        for stat, value in stats.items():
            assert value == pytest.approx(theirs[name][stat], abs=1e-6), (name, stat)


@pytest.mark.parametrize("est_rate, gt_rate", [(30, 100), (100, 30)])
def test_association_matches_evo_on_jittered_rates(est_rate, gt_rate):
    from evo.core.sync import matching_time_indices

    rng = np.random.default_rng(est_rate)
    gt = jittered(100.0, 110.0, gt_rate, rng)
    est = jittered(98.0, 106.0, est_rate, rng) - 0.5  # another clock, 0.5 s behind; starts before gt
    i_est, i_gt = associate(est, gt, max_diff=0.01, offset=0.5)
    # evo's own search, on the shorter side's stamps with the offset where evo applies it
    if est_rate > gt_rate:
        i_gt_evo, i_est_evo = matching_time_indices(gt, est, 0.01, 0.5)
    else:
        i_est_evo, i_gt_evo = matching_time_indices(est, gt, 0.01, -0.5)
    assert (i_est.tolist(), i_gt.tolist()) == (i_est_evo, i_gt_evo)
    assert 0 < len(i_est) < min(len(est), len(gt))  # some poses lie outside the other's time span
    assert np.abs(est[i_est] + 0.5 - gt[i_gt]).max() <= 0.01


def test_association_picks_nearest_and_earlier_on_ties():
    i_est, i_gt = associate(np.array([0.0, 0.105, 0.3, 1.0]), np.array([0.0, 0.1, 0.11, 0.2, 0.31]), max_diff=0.02)
    # 0.105 is 0.005 from both 0.1 and 0.11: evo keeps the earlier; 1.0 matches nothing
    assert i_est.tolist() == [0, 1, 2] and i_gt.tolist() == [0, 1, 4]
    with pytest.raises(MetricInputError, match="no timestamps match within --max-diff 0.01"):
        associate(np.array([5.0, 6.0]), np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("align", ["sim3", "se3", "scale", "none"])
@pytest.mark.parametrize("delta", [1, 4])
def test_pose_metrics_agree_with_evo_per_alignment_and_delta(align, delta):
    from evo.core.trajectory import PoseTrajectory3D

    t = np.linspace(0, 6, 40)
    gt, est = path_at(t), estimate_of(t, seed=delta)
    traj = lambda c2w: PoseTrajectory3D(poses_se3=list(c2w), timestamps=t)  # noqa: E731
    theirs, pairs = evo_results(traj(gt), traj(est), 0.01, 0.0, align, delta)
    assert pairs == 40
    assert_agrees(ours_as_stats(pose_metrics(est, gt, align=align, delta=delta)), theirs)


def test_eval_pose_cli_on_tum_files_at_different_rates_agrees_with_evo(tmp_path, capsys):
    """The issue's case: ground truth at 100 Hz, an estimate at ~30 Hz on another clock starting at
    another time; both read back by evo's own TUM reader."""
    from evo.tools.file_interface import read_tum_trajectory_file

    rng = np.random.default_rng(7)
    gt_t, est_t = jittered(100.0, 108.0, 100, rng), jittered(101.3, 109.0, 30, rng)
    write_tum(tmp_path / "gt.txt", gt_t, path_at(gt_t))
    write_tum(tmp_path / "est.txt", est_t - 0.25, estimate_of(est_t, seed=3))
    out = tmp_path / "pose.json"
    for align, delta in (("sim3", 1), ("scale", 3)):
        assert main(["eval", "pose", str(tmp_path / "est.txt"), str(tmp_path / "gt.txt"), "--offset", "0.25",
                     "--align", align, "--delta", str(delta), "--out", str(out)]) == 0
        written = json.loads(out.read_text())
        theirs, pairs = evo_results(read_tum_trajectory_file(tmp_path / "gt.txt"),
                                    read_tum_trajectory_file(tmp_path / "est.txt"), 0.01, 0.25, align, delta)
        assert (written["pairs"], written["estimated_poses"], written["ground_truth_poses"]) == \
            (pairs, len(est_t), len(gt_t))
        assert written["match"] == "time" and pairs < len(est_t)  # the estimate outlasts the ground truth
        assert_agrees(ours_as_stats(written), theirs)
    table = capsys.readouterr().out
    assert ["ate_median", f"{written['ate_median']:.6g}"] in [line.split() for line in table.splitlines()]


def test_eval_pose_without_matches_is_one_line_error(tmp_path, capsys):
    t = np.linspace(0, 1, 10)
    write_tum(tmp_path / "gt.txt", t, path_at(t))
    write_tum(tmp_path / "est.txt", t + 50, path_at(t))
    assert main(["eval", "pose", str(tmp_path / "est.txt"), str(tmp_path / "gt.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no timestamps match" in err
    # the same files paired by index compare the same path: no error at all
    assert main(["eval", "pose", str(tmp_path / "est.txt"), str(tmp_path / "gt.txt"), "--match", "index",
                 "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["ate"] == pytest.approx(0, abs=1e-7)


def c2w_rows(n, seed=0):
    return estimate_of(np.linspace(0, 3, n), seed)


def test_read_kitti_scannet_npy_round_trip(tmp_path):
    c2w = c2w_rows(12)
    np.savetxt(tmp_path / "kitti.txt", c2w[:, :3].reshape(-1, 12), fmt="%.6e")  # as KITTI's poses files
    np.savetxt(tmp_path / "pose_90.txt", c2w.reshape(-1, 16))
    np.save(tmp_path / "c2w.npy", c2w)
    folder = tmp_path / "pose"
    folder.mkdir()
    for i, pose in enumerate(c2w):  # ScanNet's per-frame files: 0.txt ... 11.txt, one 4x4 matrix each
        np.savetxt(folder / f"{i}.txt", pose)
    kitti = read_trajectory(tmp_path / "kitti.txt")
    assert kitti.timestamps is None and np.abs(kitti.c2w - c2w).max() < 1e-6
    for path in ("pose_90.txt", "c2w.npy", "pose"):
        read = read_trajectory(tmp_path / path)
        assert read.timestamps is None and np.array_equal(read.c2w, c2w), path


def test_read_tum_keeps_timestamps(tmp_path):
    t = np.array([3.5, 3.6, 3.71])
    write_tum(tmp_path / "t.txt", t, c2w_rows(3))
    read = read_trajectory(tmp_path / "t.txt")
    np.testing.assert_allclose(read.timestamps, t)
    np.testing.assert_allclose(read.c2w, c2w_rows(3), atol=1e-8)


@pytest.mark.parametrize("content, message", [
    ("1 2 3 4 5 6 7\n", "8 \\(TUM\\), 12 \\(KITTI\\) or 16"),
    ("# only a comment\n", "no lines"),
    (" ".join(["x"] * 12) + "\n", "not a number"),
])
def test_bad_trajectory_text(tmp_path, content, message):
    (tmp_path / "bad.txt").write_text(content)
    with pytest.raises(MetricInputError, match=message):
        read_trajectory(tmp_path / "bad.txt")


def test_index_pairing_needs_equal_counts(tmp_path, capsys):
    np.save(tmp_path / "est.npy", c2w_rows(10))
    np.save(tmp_path / "gt.npy", c2w_rows(12))
    assert main(["eval", "pose", str(tmp_path / "est.npy"), str(tmp_path / "gt.npy")]) == 2
    assert "10 estimated poses but 12 ground-truth poses to pair by index" in capsys.readouterr().err
    assert main(["eval", "pose", str(tmp_path / "est.npy"), str(tmp_path / "gt.npy"), "--match", "time"]) == 2
    assert "needs timestamps in both" in capsys.readouterr().err
