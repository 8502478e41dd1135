"""Run the trained model's three tasks on one held-out clip, write their outputs and score them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aether.codecs.cameras import relative_to_first
from aether.core.atomic import atomic_path, write_json
from aether.core.clip import Clip, load_clip
from aether.core.media import write_video
from aether.tasks.outputs import OutputConfig, in_scene, median_depth, point_cloud, write_outputs
from aether.tasks.sampling import SamplingConfig
from aether.tasks.smoothing import smooth_result
from aether.train.data import fit_window
from aether.train.demo.evaluate import ground_truth_action, score_generation, score_reconstruction

SCORES = "scores.json"
POINTS = "points.npz"


def at_model_size(clip: Clip, height: int, width: int) -> Clip:
    """The clip resized and centre-cropped to the model's frame size as the pipeline and the training data
    do it (``K`` follows), so every output is scored against ground truth of its own size."""
    rgb, depth, K = fit_window(clip, height, width)
    return Clip(rgb=rgb, depth=depth, K=K, c2w=clip.c2w, fps=clip.fps, source=clip.source)


def run_heldout_clip(pipe, clip_path: Path, out: Path, generate: SamplingConfig) -> dict[str, Any]:
    """Reconstruct the clip, predict it from its first frame and plan it from its first to its last frame,
    both along its true camera path and sampled with ``generate`` (reconstruction passes with the task's
    defaults), cameras smoothed; write each task's outputs into ``out/<task>/`` and return
    ``{"scores": {task: {"model"|"baseline": {...}}}, "figures": [...], "plots": [...], "points": npz,
    "scene": GLB}`` (paths relative to ``out``). A clip whose ``out/scores.json`` exists is not run again."""
    if (out / SCORES).is_file():
        return json.loads((out / SCORES).read_text())
    clip = at_model_size(load_clip(clip_path), pipe.height, pipe.width)
    gt_c2w = relative_to_first(np.asarray(clip.c2w, np.float64))
    quick = SamplingConfig(seed=generate.seed, progress=generate.progress)
    action = pipe.action_from_cameras(*ground_truth_action(clip))

    # cameras are smoothed as the field's post-processing does (docs/FORMATS.md#long-videos-and-evaluation), for
    # the model only
    results = {task: smooth_result(result) for task, result in {
        "reconstruction": pipe.reconstruct(clip.rgb, clip.fps, config=quick),
        "prediction": pipe.predict(clip.rgb[0], fps=clip.fps, action=action, config=generate, reconstruction=quick),
        "planning": pipe.plan(clip.rgb[0], clip.rgb[-1], fps=clip.fps, action=action, config=generate,
                              reconstruction=quick)}.items()}
    last = clip.num_frames - 1
    scores = {"reconstruction": score_reconstruction(results["reconstruction"], clip),
              "prediction": score_generation(results["prediction"], clip, given=[0]),
              "planning": score_generation(results["planning"], clip, given=[0, last])}
    manifests = {task: write_outputs(result, out / task, gt_c2w=gt_c2w) for task, result in results.items()}

    write_video(out / "input.mp4", clip.rgb, clip.fps)
    points, colours, depth = point_cloud(results["reconstruction"], max_points=20000)
    median = median_depth(np.asarray(results["reconstruction"].depth))
    near = in_scene(depth, median, OutputConfig().scene_depth)  # as the GLB
    with atomic_path(out / POINTS) as tmp:  # the report's 3-D viewer inlines them
        np.savez(tmp, points=points[near], colours=colours[near])
    files = {task: manifest["files"] for task, manifest in manifests.items()}
    summary = {
        "scores": scores,
        "figures": [("input.mp4", "input (ground truth)"),
                    (f"reconstruction/{files['reconstruction']['disparity_video']}", "reconstructed disparity"),
                    (f"prediction/{files['prediction']['rgb_video']}", "predicted from frame 0 + camera path"),
                    (f"planning/{files['planning']['rgb_video']}", "planned from first to last frame")],
        "plots": [(f"reconstruction/{files['reconstruction']['trajectory_plot']}",
                   "reconstructed trajectory vs ground truth")],
        "points": POINTS, "scene": f"reconstruction/{files['reconstruction']['scene_glb']}",
    }
    write_json(out / SCORES, summary)
    return summary
