"""The demo's scoring: baselines computed by hand, which frames are scored, who wins."""

import numpy as np
import pytest
from aether.core.clip import Clip
from aether.tasks.result import TaskResult
from aether.train.demo.evaluate import (
    ground_truth_action,
    mean_scores,
    model_wins,
    score_generation,
    score_reconstruction,
)
from scipy.spatial.transform import Rotation

F, H, W = 9, 16, 24


def _clip() -> Clip:
    rng = np.random.default_rng(0)
    c2w = np.tile(np.eye(4), (F, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(scale=0.05, size=(F, 3)), axis=0)).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(size=(F, 3)), axis=0) + [5.0, 0, 0]
    K = np.tile([[20.0, 0, 12], [0, 20.0, 8], [0, 0, 1]], (F, 1, 1))
    depth = rng.uniform(2.0, 6.0, (F, H, W)).astype(np.float32)
    rgb = rng.integers(0, 255, (F, H, W, 3), dtype=np.uint8)
    return Clip(rgb=rgb, depth=depth, K=K.astype(np.float32), c2w=c2w.astype(np.float32), fps=12.0)


def test_exact_reconstruction_beats_the_baselines():
    clip = _clip()
    gt = np.asarray(clip.c2w, np.float64)
    rel = np.linalg.inv(gt[:1]) @ gt
    perfect = TaskResult(rgb=clip.rgb, depth=clip.depth * 3.0 + 0.0, disparity=np.zeros((F, H, W)), c2w=rel,
                         K=clip.K, fps=12.0)
    scores = score_reconstruction(perfect, clip)
    assert scores["model"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert scores["model"]["delta_1"] == 1.0
    assert scores["model"]["ate"] == pytest.approx(0.0, abs=1e-6)
    assert all(model_wins(scores).values())


def test_an_unscorable_depth_is_reported_and_the_other_metrics_go_on():
    """A barely trained model's depth can fall where the truth rises: the protocol refuses its negative
    alignment scale; the clip keeps its camera scores and the mean is over the clips that could be scored."""
    clip = _clip()
    rel = np.linalg.inv(np.asarray(clip.c2w, np.float64)[:1]) @ np.asarray(clip.c2w, np.float64)
    inverted = TaskResult(rgb=clip.rgb, depth=10.0 - clip.depth, disparity=np.zeros((F, H, W)), c2w=rel,
                          K=clip.K, fps=12.0)
    with pytest.warns(UserWarning, match="model depth not scored: the scale-shift alignment gave scale -1"):
        bad = score_reconstruction(inverted, clip)
    assert bad["model"]["abs_rel"] is None and bad["model"]["delta_1"] is None
    assert bad["model"]["ate"] == pytest.approx(0.0, abs=1e-6) and bad["baseline"]["abs_rel"] is not None
    assert model_wins(bad)["abs_rel"] is False and model_wins(bad)["ate"] is True
    good = score_reconstruction(TaskResult(rgb=clip.rgb, depth=clip.depth, disparity=np.zeros((F, H, W)), c2w=rel,
                                           K=clip.K, fps=12.0), clip)
    mean = mean_scores([{"reconstruction": bad}, {"reconstruction": good}])["reconstruction"]
    assert mean["model"]["abs_rel"] == pytest.approx(good["model"]["abs_rel"])  # the scored clip alone
    assert mean["model"]["ate"] == pytest.approx(0.0, abs=1e-6)
    assert mean_scores([{"reconstruction": bad}])["reconstruction"]["model"]["abs_rel"] is None


def test_generation_scores_only_frames_not_given():
    clip = _clip()
    result = TaskResult(rgb=clip.rgb.copy(), depth=clip.depth, disparity=np.zeros((F, H, W)),
                        c2w=np.tile(np.eye(4), (F, 1, 1)), K=clip.K, fps=12.0)
    result.rgb[0] = 0       # given frames are not scored, so breaking them changes nothing
    result.rgb[-1] = 0
    scores = score_generation(result, clip, given=[0, F - 1])
    assert scores["model"]["psnr"] == np.inf and scores["model"]["ssim"] == pytest.approx(1.0)
    assert scores["baseline"]["psnr"] < 20
    assert model_wins(scores) == {"psnr": True, "ssim": True}


def test_action_is_relative_with_the_clips_p_max():
    clip = _clip()
    c2w, K, p_max = ground_truth_action(clip)
    assert p_max == pytest.approx(1 / clip.depth.min())
    np.testing.assert_allclose(c2w[0], np.eye(4), atol=1e-6)
    gt = np.asarray(clip.c2w, np.float64)
    np.testing.assert_allclose(c2w[3], np.linalg.inv(gt[0]) @ gt[3], rtol=1e-5)
    np.testing.assert_array_equal(K, clip.K)


def test_mean_and_wins_directions():
    per_clip = [{"t": {"model": {"ate": 1.0, "psnr": 20.0}, "baseline": {"ate": 2.0, "psnr": 25.0}}},
                {"t": {"model": {"ate": 3.0, "psnr": 22.0}, "baseline": {"ate": 2.0, "psnr": 15.0}}}]
    mean = mean_scores(per_clip)
    assert mean == {"t": {"model": {"ate": 2.0, "psnr": 21.0}, "baseline": {"ate": 2.0, "psnr": 20.0}}}
    assert model_wins(mean["t"]) == {"ate": False, "psnr": True}  # a tie is not a win
