"""The demo's five stages, run in order and each reused when it already finished."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from aether.core.clip import iter_clip_paths
from aether.train.demo.config import DemoConfig
from aether.train.demo.evaluate import mean_scores, model_wins
from aether.train.demo.stages import run_stage

REPORT = "report.html"


def _render(config: DemoConfig, folder: Path) -> dict[str, Any]:
    import numpy as np

    from aether.annotate.synthetic import RenderConfig, write_clips
    from aether.core.clip import load_clip, save_clip
    from aether.train.data import window

    size = dict(height=config.height * config.render_scale, width=config.width * config.render_scale, fps=config.fps)
    render = RenderConfig(frames=config.clip_frames, **size)
    train = write_clips(folder / "train", config.train_clips, config.seed, render, progress=config.progress)
    # A held-out clip is one model window cut from a clip rendered like the training clips, at a random start
    # as training draws its windows: the generator spreads a clip's turn over its length, so clips rendered at
    # window length turn faster than anything the model saw (1.4 against 0.9 degrees per frame).
    full = write_clips(folder / "heldout-full", config.heldout_clips, config.heldout_seed, render,
                       progress=config.progress)
    for i, path in enumerate(full):
        clip, rng = load_clip(path), np.random.default_rng([config.heldout_seed, i])
        save_clip(clip.select(window(clip.num_frames, clip.fps, config.frames, clip.fps, rng)),
                  folder / "heldout" / path.name)
    return {"train_clips": len(train), "heldout_clips": len(full)}


def _heldout(config: DemoConfig, model_dir: Path, clips: Path, folder: Path) -> dict[str, Any]:
    from aether.tasks.pipeline import AetherPipeline
    from aether.tasks.sampling import SamplingConfig
    from aether.train.demo.heldout import run_heldout_clip

    pipe = AetherPipeline.from_pretrained(model_dir, device="cpu")
    generate = SamplingConfig(steps=config.sample_steps, guidance=config.guidance, seed=config.seed,
                              progress=config.progress)
    per_clip = {path.stem: run_heldout_clip(pipe, path, folder / path.stem, generate)
                for path in iter_clip_paths(clips)}
    scores = mean_scores([clip["scores"] for clip in per_clip.values()])
    return {"clips": per_clip, "scores": scores,
            "wins": {task: model_wins(task_scores) for task, task_scores in scores.items()}}


def _report_clip(folder: Path, name: str, clip: dict[str, Any]) -> dict[str, Any]:
    """A held-out clip's summary with its paths made absolute, as :func:`write_report` takes it."""
    return {"name": name, "scores": clip["scores"],
            "figures": [(folder / rel, caption) for rel, caption in clip["figures"]],
            "plots": [(folder / rel, caption) for rel, caption in clip["plots"]],
            **{key: folder / clip[key] for key in ("points", "scene") if key in clip}}


def run_demo(out: str | os.PathLike, config: DemoConfig | None = None,
             log: Callable[[str], None] = print) -> Path:
    """Run (or resume) the demo into ``out``; return the path of the HTML report."""
    from aether.train.demo.annotation import annotate_clips, slice_folders
    from aether.train.demo.report import write_report
    from aether.train.demo.training import train_model

    config = config or DemoConfig()
    out = Path(out)
    stages: dict[str, dict] = {}
    stages["data"] = run_stage(out, "data", lambda folder: _render(config, folder), log)
    data = out / "data"
    if config.annotate:
        stages["annotate"] = run_stage(out, "annotate", lambda folder: annotate_clips(data / "train", folder,
                                                                                   config.progress), log)
        train_clips = slice_folders(out / "annotate" / "clips")
    else:
        train_clips = [data / "train"]
    stages["train"] = run_stage(out, "train", lambda folder: train_model(config, train_clips, folder), log)
    model_dir = out / "train" / stages["train"]["model"]
    stages["heldout"] = run_stage(out, "heldout", lambda folder: _heldout(config, model_dir, data / "heldout",
                                                                          folder), log)

    heldout = stages["heldout"]
    clips = [_report_clip(out / "heldout" / name, name, clip) for name, clip in heldout["clips"].items()]
    report = write_report(out / REPORT, config=config.model_dump(), stages=stages, scores=heldout["scores"],
                          annotation=stages.get("annotate", {}).get("accuracy"),
                          curves_png=out / "train" / stages["train"]["curves"], clips=clips)
    wins = [f"{task} {metric}" for task, metrics in heldout["wins"].items() for metric, won in metrics.items()
            if not won]
    log(f"report: {report}")
    log("the trained model beats every trivial baseline" if not wins
        else f"the trivial baseline is still better on: {', '.join(wins)}")
    return report
