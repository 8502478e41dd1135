"""`aether eval depth` on the benchmarks' depth formats, the protocol's alignments, and the rejection of
predictions that cannot be scored."""

import json

import cv2
import numpy as np
import pytest

from aether.core.cli import main
from aether.tasks.evaluation.depth_alignment import irls_scale, l1_scale_shift
from aether.tasks.evaluation.depth_files import read_depth
from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.metrics import depth_metrics

DEPTH = np.array([[0.0, 1.0, 2.5], [13.1, 0.25, 7.0]])  # 0 = invalid


def write_dpt(path, depth):
    """As Sintel's ``depth_write``: float32 tag 202021.25, int32 width, int32 height, float32 data."""
    height, width = depth.shape
    with open(path, "wb") as f:
        np.array(202021.25, np.float32).tofile(f)
        np.array(width, np.int32).tofile(f)
        np.array(height, np.int32).tofile(f)
        depth.astype(np.float32).tofile(f)


def write_png(path, depth, scale):
    """As the datasets store depth: round(depth * scale) in a 16-bit PNG."""
    assert cv2.imwrite(str(path), np.round(depth * scale).astype(np.uint16))


def test_read_sintel_dpt(tmp_path):
    write_dpt(tmp_path / "frame_0001.dpt", DEPTH)
    np.testing.assert_array_equal(read_depth(tmp_path / "frame_0001.dpt"), DEPTH.astype(np.float32))
    (tmp_path / "bad.dpt").write_bytes((tmp_path / "frame_0001.dpt").read_bytes()[:-4])
    with pytest.raises(MetricInputError, match="a 3x2 .dpt needs 36 bytes; the file has 32"):
        read_depth(tmp_path / "bad.dpt")
    (tmp_path / "tag.dpt").write_bytes(b"XXXX" + (tmp_path / "frame_0001.dpt").read_bytes()[4:])
    with pytest.raises(MetricInputError, match="not a Sintel .dpt"):
        read_depth(tmp_path / "tag.dpt")


@pytest.mark.parametrize("scale", [5000, 256, 1000])  # Bonn / TUM, KITTI, ScanNet
def test_read_16_bit_png_with_scale(tmp_path, scale):
    write_png(tmp_path / "d.png", DEPTH, scale)
    np.testing.assert_allclose(read_depth(tmp_path / "d.png", png_scale=scale),
                               np.round(DEPTH * scale) / scale, rtol=0, atol=1e-12)
    assert read_depth(tmp_path / "d.png", png_scale=scale)[0, 0] == 0  # invalid stays 0


def test_png_needs_scale_and_16_bits(tmp_path):
    write_png(tmp_path / "d.png", DEPTH, 1000)
    with pytest.raises(MetricInputError, match="needs --png-scale: 5000 \\(Bonn, TUM\\), 256 \\(KITTI\\)"):
        read_depth(tmp_path / "d.png")
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 3), np.uint8))
    with pytest.raises(MetricInputError, match="single-channel 16-bit; this one is uint8"):
        read_depth(tmp_path / "rgb.png", png_scale=1000)


def test_read_npy_and_npz(tmp_path):
    np.save(tmp_path / "d.npy", DEPTH)
    np.savez(tmp_path / "one.npz", anything=DEPTH)
    np.savez(tmp_path / "named.npz", conf=np.ones(3), depth=DEPTH)
    np.savez(tmp_path / "two.npz", a=DEPTH, b=DEPTH)
    for name in ("d.npy", "one.npz", "named.npz"):
        np.testing.assert_array_equal(read_depth(tmp_path / name), DEPTH)
    with pytest.raises(MetricInputError, match="holds arrays \\['a', 'b'\\]; name the depth one 'depth'"):
        read_depth(tmp_path / "two.npz")


def test_folder_of_frames_in_natural_order(tmp_path):
    for i in (1, 2, 10):  # frame_10 sorts after frame_2
        write_dpt(tmp_path / f"frame_{i}.dpt", DEPTH * i)
    frames = read_depth(tmp_path)
    assert frames.shape == (3, 2, 3)
    np.testing.assert_allclose(frames[:, 1, 2], [7.0, 14.0, 70.0])
    write_png(tmp_path / "frame_11.png", DEPTH, 256)
    with pytest.raises(MetricInputError, match="several formats \\(.dpt, .png\\)"):
        read_depth(tmp_path)


def test_reads_what_aether_reconstruct_writes(tmp_path):
    from aether.codecs.cameras import read_tum
    from aether.tasks.evaluation.trajectory_files import read_trajectory
    from aether.tasks.outputs import OutputConfig, write_outputs
    from aether.tasks.result import TaskResult, disparity_from_depth

    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 5, (2, 8, 12)).astype(np.float32)
    c2w = np.tile(np.eye(4), (2, 1, 1))
    c2w[1, :3, 3] = [0.1, 0.0, 0.2]
    K = np.tile(np.array([[10.0, 0, 6], [0, 10.0, 4], [0, 0, 1]]), (2, 1, 1))
    result = TaskResult(rgb=rng.integers(0, 255, (2, 8, 12, 3), dtype=np.uint8), depth=depth,
                        disparity=disparity_from_depth(depth), c2w=c2w, K=K, fps=12.0)
    write_outputs(result, tmp_path / "out", config=OutputConfig(max_points=50))
    for path in (tmp_path / "out", tmp_path / "out" / "result.json"):
        np.testing.assert_array_equal(read_depth(path), depth)
        trajectory = read_trajectory(path)
        np.testing.assert_allclose(trajectory.c2w, c2w, atol=1e-9)
        np.testing.assert_allclose(trajectory.timestamps, read_tum(tmp_path / "out" / "result_trajectory.txt")[0])


def test_eval_depth_cli_on_png_ground_truth_and_dpt_prediction(tmp_path):
    rng = np.random.default_rng(3)
    gt = np.round(rng.uniform(0.5, 10, (3, 6, 8)) * 5000) / 5000
    gt[:, 0, 0] = 0  # invalid pixels
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for i, frame in enumerate(gt):
        write_png(tmp_path / "gt" / f"{i:05d}.png", frame, 5000)
        write_dpt(tmp_path / "pred" / f"frame_{i:04d}.dpt", frame / 2)  # exact up to float32
    out = tmp_path / "m.json"
    assert main(["eval", "depth", str(tmp_path / "pred"), str(tmp_path / "gt"), "--png-scale", "5000",
                 "--align", "irls-scale", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["valid_pixels"] == 3 * (6 * 8 - 1)
    assert written["scale"] == pytest.approx(2.0, rel=1e-6) and written["abs_rel"] < 1e-6
    assert written["delta_1"] == 1.0


def test_l1_fit_keeps_an_exact_start_and_follows_the_release_step_size():
    gt = np.linspace(1, 9, 17)
    assert l1_scale_shift(gt / 2, gt) == (2.0, 0.0)  # zero residuals: zero gradient, Adam does not move
    scale, shift = l1_scale_shift(gt / 2 - 0.02, gt)  # optimum s = 2, t = 0.04, reachable from the start
    assert scale == pytest.approx(2.0, abs=2e-3) and shift == pytest.approx(0.04, abs=2e-3)
    # a true shift of 5: lr 1e-4 for at most 1000 steps moves t by about 0.1 at most
    _, shift = l1_scale_shift(gt / 2, gt + 5)
    assert 0 < shift < 0.11


def test_irls_scale_hand_computed():
    # pred 1, 1, 1 and gt 1, 1, 4: start mean(gt)/mean(pred) = 2; with s = 1 + e a Weiszfeld step gives
    # e' = 3e / (6 - e) (weights 1/e, 1/e, 1/(3 - e)), heading for the L1 optimum s = 1
    e = 1.0
    for _ in range(10):
        e = 3 * e / (6 - e)
    assert irls_scale(np.ones(3), np.array([1.0, 1.0, 4.0])) == pytest.approx(1 + e, rel=1e-7)
    assert depth_metrics(np.ones((1, 3)), np.array([[1.0, 1.0, 4.0]]), align="irls-scale")["scale"] == \
        pytest.approx(1 + e, rel=1e-7)


def test_aligned_prediction_is_clipped_at_max_depth():
    m = depth_metrics(np.array([[10.0, 100.0]]), np.array([[10.0, 20.0]]), align="none", max_depth=70)
    assert m["abs_rel"] == pytest.approx((0 + 50 / 20) / 2)  # 100 -> 70 before the errors
    assert m["rmse"] == pytest.approx(np.sqrt(50 ** 2 / 2))


def test_resize_methods():
    pred = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    gt = np.ones((1, 4, 4))
    nearest = depth_metrics(pred, gt, align="none", resize="nearest")
    assert nearest["abs_rel"] == pytest.approx(np.mean([0, 1, 2, 3]))  # each value covers a 2x2 block
    cubic = cv2.resize(pred[0], (4, 4), interpolation=cv2.INTER_CUBIC)
    assert depth_metrics(pred, gt, align="none")["abs_rel"] == pytest.approx(np.mean(np.abs(cubic - 1)))


@pytest.mark.parametrize("pred, align, message", [
    (-np.linspace(1, 5, 12).reshape(3, 4), "l1-scale-shift", "negative values"),  # scored perfect before
    (np.zeros((3, 4)), "l1-scale-shift", "is 0 \\(invalid\\) wherever"),  # NaN metrics before
    (np.full((3, 4), np.inf), "scale", "non-finite"),
    (np.where(np.arange(12).reshape(3, 4) < 7, 0.0, 1.0), "scale", "gave scale inf"),  # median(pred) = 0
    (11 - np.linspace(1, 5, 12).reshape(3, 4), "scale-shift", "gave scale -1"),  # anti-correlated
])
def test_predictions_that_cannot_be_scored_are_rejected(pred, align, message):
    with pytest.raises(MetricInputError, match=message):
        depth_metrics(pred, np.linspace(1, 5, 12).reshape(3, 4), align=align)


def test_negated_prediction_is_a_one_line_cli_error(tmp_path, capsys):
    gt = np.linspace(1, 5, 24).reshape(2, 3, 4)
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "pred.npy", -gt)
    assert main(["eval", "depth", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "negative values" in err


@pytest.mark.parametrize("command, name", [("depth", "pred.npy"), ("depth", "pred.npz"), ("pose", "est.npy")])
def test_pickled_arrays_are_refused_in_one_line_and_never_loaded(tmp_path, capsys, command, name):
    """A pickle runs code when loaded: ``eval`` must refuse it as it refuses it everywhere else."""
    marker = tmp_path / "pwned"
    payload = np.array([_Payload(str(marker))], dtype=object)
    if name.endswith(".npz"):
        np.savez(tmp_path / name, depth=payload)
    else:
        np.save(tmp_path / name, payload, allow_pickle=True)
    np.save(tmp_path / "gt.npy", np.tile(np.eye(4), (4, 1, 1)))
    assert main(["eval", command, str(tmp_path / name), str(tmp_path / "gt.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pickled data is never loaded" in err, err
    assert not marker.exists()


class _Payload:
    """Unpickled, it creates ``marker``: proof that loading ran code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")
