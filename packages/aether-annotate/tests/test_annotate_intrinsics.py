"""Intrinsics as the data allow (issue 19): a focal length that translation cannot reveal is reported
unobservable and replaced by a prior or a labelled estimate; non-square pixels get fx and fy apart."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aether.annotate.pipeline import AnnotateConfig, annotate_clip
from aether.annotate.synthetic import RenderConfig, SceneConfig, render_clip

SMALL = RenderConfig(height=96, width=144, frames=13)


@pytest.fixture(scope="module")
def sliding():
    """A room seen by a camera that only translates (the path of a forward walk, orientation held)."""
    clip = render_clip(SceneConfig(seed=31, kind="room", motion="forward", rotation_scale=0, dynamic_objects=0),
                       SMALL)
    rot = clip.c2w[:, :3, :3]
    assert np.allclose(rot, rot[0], atol=1e-6) and np.linalg.norm(clip.c2w[-1, :3, 3] - clip.c2w[0, :3, 3]) > 0.3
    return clip


def _only(clip, config=None, keep_k=False):
    pieces, report = annotate_clip(replace(clip, c2w=None, dynamic_mask=None, K=clip.K if keep_k else None), config)
    assert report["status"] == "ok" and len(pieces) == 1, report
    return pieces[0], report["slices"][0]


def test_a_translation_only_clip_reports_its_focal_length_unobservable(sliding):
    piece, entry = _only(sliding)
    assert entry["focal"] == "unobservable"
    assert "translation alone leaves the focal length unobservable" in entry["focal_reason"]
    assert entry["focal_source"] == "best estimate, not a measurement"
    assert entry["intrinsics"]["focal_std_pct"] > 2.0
    # the guess is not refined as if it were measured
    assert isinstance(entry["refine"], str) or entry["refine"]["intrinsics"] == "fixed"


def test_an_unobservable_focal_length_falls_back_to_the_prior(sliding):
    truth = float(sliding.K[0, 0, 0])
    piece, entry = _only(sliding, AnnotateConfig(focal_prior=truth))
    assert entry["focal"] == "unobservable" and entry["focal_source"] == f"focal_prior {truth:g} px"
    assert piece.K[0, 0, 0] == pytest.approx(truth) and piece.K[0, 1, 1] == pytest.approx(truth)
    # without a prior option, the clip's own K stands in (use_given_K is off: rotating clips still measure it)
    piece, entry = _only(sliding, keep_k=True)
    assert entry["focal_source"] == "the clip's K"
    np.testing.assert_allclose(piece.K[0], sliding.K[0], rtol=1e-6)


def test_a_rotating_clip_measures_its_focal_length_with_square_pixels():
    orbit = render_clip(SceneConfig(seed=11, kind="room", motion="orbit", dynamic_objects=2), SMALL)
    piece, entry = _only(orbit, AnnotateConfig(focal_prior=50.0))  # the prior is not used: the focal is measured
    assert entry["focal"] == "measured" and "focal_source" not in entry
    assert not entry["intrinsics"]["fx_fy_apart"] and piece.K[0, 0, 0] == piece.K[0, 1, 1]
    assert entry["intrinsics"]["aspect"].startswith("assumed square: the camera turns")  # an orbit pans, no tilt
    assert piece.K[0, 0, 0] == pytest.approx(orbit.K[0, 0, 0], rel=0.02)


def test_non_square_pixels_get_fx_and_fy_apart():
    # rendered as a 4:3 video squeezed to 3:2 would be: fy = 0.75 fx; the camera pans and tilts
    clip = render_clip(SceneConfig(seed=35, kind="room", motion="mixed", dynamic_objects=0, motion_scale=2),
                       SMALL.model_copy(update={"pixel_aspect": 0.75}))
    fx, fy = clip.K[0, 0, 0], clip.K[0, 1, 1]
    piece, entry = _only(clip)
    assert entry["focal"] == "measured" and entry["intrinsics"]["fx_fy_apart"]
    assert piece.K[0, 0, 0] == pytest.approx(fx, rel=0.01)
    assert piece.K[0, 1, 1] == pytest.approx(fy, rel=0.04)  # a square fit would be 25 % off one of them
    assert piece.K[0, 1, 1] / piece.K[0, 0, 0] == pytest.approx(0.75, abs=0.03)
