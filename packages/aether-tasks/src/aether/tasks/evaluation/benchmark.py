"""``aether benchmark depth|pose``: the paper's video-depth or camera-pose table in one run
(docs/FORMATS.md#long-videos-and-evaluation).

Under ``out/<task>/`` a run writes, each file atomically:

- ``predictions/<dataset>/<seq>/``: the model's reconstruction of each sequence (``aether reconstruct``'s
  outputs, manifest last) and ``predictions/settings.json``, the inference settings they were made with;
- ``scores/<method>/<dataset>/<seq>.json``: one sequence's metrics and the scoring settings;
- ``benchmark.md`` and ``benchmark.json``: the table (one row per method) and every number behind it.

A finished prediction or score is never recomputed, so an interrupted run resumes where it stopped. With
``shard = (k, n)`` a run takes every n-th sequence from the k-th (array jobs of a cluster, one shard
each, sharing ``out``) and writes no table; a run without a shard then finds their work done and merges it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aether.core.errors import AetherError
from aether.core.progress import progress_bar
from aether.tasks.evaluation.benchmark_datasets import LAYOUTS, Sequence, Task, find_sequences, layout
from aether.tasks.evaluation.depth_alignment import DepthAlignment
from aether.tasks.evaluation.metrics import Resize

DEFAULT_DATASETS: dict[Task, tuple[str, ...]] = {task: tuple(layouts) for task, layouts in LAYOUTS.items()}
PROTOCOL_STRIDE: dict[Task, int] = {"depth": 8, "pose": 32}  # frames between temporal windows of 41
PREDICTION = "result"  # file stem of each prediction's outputs


class BenchmarkError(AetherError, ValueError):
    """A benchmark that cannot run: datasets not found, a prediction missing, settings that disagree."""


class BenchmarkConfig(BaseModel):
    """One benchmark run: which table, where the data and outputs lie, the methods, the inference and
    scoring settings (defaults: the protocol's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task
    data: Path = Field(description="data root in CUT3R's layout (its data/)")
    out: Path = Field(description="output folder; the run writes under out/<task>/")
    datasets: tuple[str, ...] = Field((), description="datasets of the table, in column order; () = the task's")
    model: Path | None = Field(None, description="model folder to run; None: only score `preds`")
    name: str = Field("aether", description="the model's row in the table")
    preds: dict[str, Path] = Field({}, description="other methods' prediction folders by row name")
    shard: tuple[int, int] | None = Field(None, description="(k, n): this run takes sequences k, k + n, ...")
    window: int = Field(41, ge=5, description="frames per temporal window (4k + 1)")
    stride: int | None = Field(None, ge=1, description="frames between windows; None: 8 (depth), 32 (pose)")
    steps: int = Field(4, ge=1)
    guidance: float = Field(1.0, ge=0.0)
    seed: int = 3407
    fps: float = Field(12.0, gt=0, description="frame rate the model is told (the release: 12)")
    dtype: Literal["fp32", "bf16", "fp16"] = Field("bf16", description="model dtype (the release: bf16)")
    device: str | None = None
    depth_clip: float | None = Field(100.0, gt=0, description="predicted depth clipped here, as the release saves it")
    align: DepthAlignment = "l1-scale-shift"
    resize: Resize = "bicubic"
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> "BenchmarkConfig":
        for dataset in self.datasets:
            layout(self.task, dataset)
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"datasets are listed twice: {', '.join(self.datasets)}")
        if self.model is None and not self.preds:
            raise ValueError("nothing to score: give a model folder or a prediction folder")
        if self.model is not None and self.name in self.preds:
            raise ValueError(f"the model's row name {self.name!r} is also a prediction folder's; rename one")
        for name in [self.name, *self.preds]:  # each names a folder of scores
            if not name or name.startswith(".") or Path(name).name != name:
                raise ValueError(f"method name {name!r} must be a plain folder name")
        if self.shard is not None and not 0 <= self.shard[0] < self.shard[1]:
            raise ValueError(f"shard k/n needs 0 <= k < n; got {self.shard[0]}/{self.shard[1]}")
        return self

    @property
    def dataset_names(self) -> tuple[str, ...]:
        return self.datasets or DEFAULT_DATASETS[self.task]

    @property
    def window_stride(self) -> int:
        return self.stride or PROTOCOL_STRIDE[self.task]

    def inference_settings(self) -> dict[str, Any]:
        """What a prediction depends on (the device aside)."""
        return {"model": str(self.model.resolve()), "window": self.window, "stride": self.window_stride,
                "steps": self.steps, "guidance": self.guidance, "seed": self.seed, "fps": self.fps,
                "dtype": self.dtype, "depth_clip": self.depth_clip}

    def score_settings(self) -> dict[str, Any]:
        """What a score depends on besides the prediction."""
        if self.task == "depth":
            return {"align": self.align, "resize": self.resize}
        return {"align": "sim3", "delta": 1, "match": "index"}


def collect_sequences(config: BenchmarkConfig) -> tuple[list[Sequence], list[str]]:
    """Every sequence of the run's datasets, in table order, and a note per dataset that lacks some."""
    sequences, notes = [], []
    for dataset in [layout(config.task, name) for name in config.dataset_names]:
        found, missing = find_sequences(config.data, dataset)
        if not found:
            where = config.data / dataset.frames.format(seq="<seq>")
            raise BenchmarkError(f"no {dataset.name} sequence with frames and ground truth under {config.data} "
                                 f"(looked for {where} and {dataset.gt.format(seq='<seq>')}); drop it from "
                                 "--datasets or prepare it with CUT3R's scripts")
        if missing:
            notes.append(f"{dataset.name}: {len(missing)} sequence(s) without frames or ground truth left out "
                         f"({', '.join(missing)}); this figure is not comparable with the paper's")
        sequences += found
    return sequences, notes


def _own_share(config: BenchmarkConfig, sequences: list[Sequence]) -> list[Sequence]:
    return sequences if config.shard is None else sequences[config.shard[0]::config.shard[1]]


def _score_path(config: BenchmarkConfig, method: str, sequence: Sequence) -> Path:
    return config.out / config.task / "scores" / method / sequence.layout.name / f"{sequence.name}.json"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _check_inference_settings(config: BenchmarkConfig, root: Path) -> None:
    """Record the inference settings in ``root``, or refuse to mix predictions made with others."""
    from aether.core.atomic import write_json

    path, settings = root / "settings.json", config.inference_settings()
    recorded = _read_json(path)
    if recorded is not None and recorded != settings:
        changed = ", ".join(f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in settings.items() if recorded.get(k) != v)
        raise BenchmarkError(f"{root} holds predictions made with other settings ({changed}); choose another "
                             "--out, or delete that folder to start over")
    if recorded is None:
        write_json(path, settings)


def predict(config: BenchmarkConfig, sequences: list[Sequence]) -> None:
    """Reconstruct every sequence of ``sequences`` that has no finished prediction; the model is loaded
    only if one is needed."""
    from aether.tasks.outputs import prepare_output_dir, write_outputs

    root = config.out / config.task / "predictions"
    _check_inference_settings(config, root)
    # prepare_output_dir completes a publish a killed run left half done
    todo = [s for s in sequences
            if not (prepare_output_dir(root / s.layout.name / s.name, PREDICTION) / f"{PREDICTION}.json").is_file()]
    if not todo:
        return
    from aether.core.frame_folders import read_frame_folder
    from aether.tasks.evaluation.benchmark_inference import reconstruct_sequence
    from aether.tasks.pipeline import AetherPipeline
    from aether.tasks.sampling import SamplingConfig

    pipe = AetherPipeline.from_pretrained(config.model, dtype=config.dtype, device=config.device)
    sampling = SamplingConfig(steps=config.steps, guidance=config.guidance, seed=config.seed,
                              progress=config.progress)
    for sequence in progress_bar(todo, desc=f"{config.task}: reconstruct", unit="seq", disable=not config.progress):
        result = reconstruct_sequence(pipe, read_frame_folder(sequence.frames), config.fps, sampling, config.window,
                                      config.window_stride, config.depth_clip)
        _score_path(config, config.name, sequence).unlink(missing_ok=True)  # scored an older prediction
        write_outputs(result, root / sequence.layout.name / sequence.name, PREDICTION)


def score(config: BenchmarkConfig, method: str, root: Path, sequences: list[Sequence]) -> None:
    """Score ``method``'s predictions under ``root`` for every sequence not yet scored from the same
    prediction file with the run's settings."""
    from aether.core.atomic import write_json
    from aether.tasks.evaluation.benchmark_scoring import find_prediction, score_sequence

    settings = config.score_settings()
    todo = []
    for sequence in sequences:
        prediction = find_prediction(root, sequence)
        if prediction is None:
            raise BenchmarkError(f"{method}: no prediction of {sequence.key} in {root} (looked for "
                                 f"{root / sequence.key} and {sequence.key}.npy / .npz / .txt)")
        recorded = _read_json(_score_path(config, method, sequence)) or {}
        if (recorded.get("settings"), recorded.get("prediction")) != (settings, str(prediction)):
            todo.append((sequence, prediction))
    for sequence, prediction in progress_bar(todo, desc=f"{config.task}: score {method}", unit="seq",
                                             disable=not config.progress):
        try:
            metrics = score_sequence(prediction, sequence, config.align, config.resize)
        except AetherError as exc:
            raise BenchmarkError(f"{method}, {sequence.key}: {exc}") from exc
        write_json(_score_path(config, method, sequence), {"sequence": sequence.key, "prediction": str(prediction),
                                                           "settings": settings, "metrics": metrics})


def methods(config: BenchmarkConfig) -> dict[str, Path]:
    """Each row's prediction folder: the model's first, then ``preds``."""
    own = {config.name: config.out / config.task / "predictions"} if config.model is not None else {}
    return {**own, **config.preds}


def report(config: BenchmarkConfig, sequences: list[Sequence], notes: list[str]) -> dict[str, Any]:
    """Every method's per-sequence scores (read back from the score files) and dataset figures."""
    from aether.tasks.evaluation.benchmark_tables import dataset_mean

    datasets = [layout(config.task, name) for name in config.dataset_names]
    rows: dict[str, Any] = {}
    for method in methods(config):
        rows[method] = {}
        for dataset in datasets:
            scores = {s.name: _read_json(_score_path(config, method, s))["metrics"]
                      for s in sequences if s.layout == dataset}
            rows[method][dataset.name] = {"mean": dataset_mean(config.task, list(scores.values())),
                                          "sequences": scores}
    return {"task": config.task, "data": str(config.data),
            "weighting": "valid-pixel count" if config.task == "depth" else "none (plain mean)",
            "settings": {"score": config.score_settings(),
                         **({"inference": config.inference_settings()} if config.model is not None else {})},
            "methods": rows, "notes": notes}


def run_benchmark(config: BenchmarkConfig) -> dict[str, Any] | None:
    """Predict, score and (without a shard) tabulate; returns the report, or None for a shard."""
    from aether.core.atomic import write_json, write_text
    from aether.tasks.evaluation.benchmark_tables import markdown_table

    sequences, notes = collect_sequences(config)
    share = _own_share(config, sequences)
    if config.model is not None:
        predict(config, share)
    for method, root in methods(config).items():
        score(config, method, root, share)
    if config.shard is not None:
        return None
    result = report(config, sequences, notes)
    datasets = [layout(config.task, name) for name in config.dataset_names]
    table = markdown_table(config.task, datasets, {m: {d: v["mean"] for d, v in r.items()}
                                                   for m, r in result["methods"].items()})
    out = config.out / config.task
    write_json(out / "benchmark.json", result)
    write_text(out / "benchmark.md", table + "\n" + "".join(f"\nNote: {note}\n" for note in notes))
    result["table"] = table
    return result
