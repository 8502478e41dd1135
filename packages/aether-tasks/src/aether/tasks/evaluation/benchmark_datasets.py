"""The benchmark datasets in the layout CUT3R's preparation scripts produce
(docs/FORMATS.md#long-videos-and-evaluation), and reading one sequence's ground truth (its frames are a plain
frame folder: :func:`aether.core.frame_folders.read_frame_folder`).

Paths are relative to the data root (CUT3R's ``data/``); ``{seq}`` is the sequence name. A dataset
with a protocol list uses exactly those sequences; the others use every sub-folder of ``listing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from aether.tasks.evaluation.errors import MetricInputError
from aether.core.frame_folders import frame_files
from aether.tasks.evaluation.trajectory_files import Trajectory

Task = Literal["depth", "pose"]
GroundTruth = Literal["depth", "sintel-cam", "trajectory"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SINTEL_SEQUENCES = ("alley_2", "ambush_4", "ambush_5", "ambush_6", "cave_2", "cave_4", "market_2", "market_5",
                    "market_6", "shaman_3", "sleeping_1", "sleeping_2", "temple_2", "temple_3")
BONN_SEQUENCES = ("balloon2", "crowd2", "crowd3", "person_tracking2", "synchronous")


@dataclass(frozen=True)
class DatasetLayout:
    """Where one dataset's frames and ground truth lie, and how its depth is scored."""

    name: str
    title: str
    task: Task
    frames: str
    gt: str
    ground_truth: GroundTruth
    sequences: tuple[str, ...] | None = None  # the protocol's list; None: every sub-folder of ``listing``
    listing: str | None = None
    png_scale: float | None = None  # depth = 16-bit PNG value / png_scale
    max_depth: float | None = None  # valid ground truth lies below it; the aligned prediction is clipped there


_KITTI = "kitti/depth_selection/val_selection_cropped"
LAYOUTS: dict[Task, dict[str, DatasetLayout]] = {
    "depth": {
        "sintel": DatasetLayout("sintel", "Sintel", "depth", "sintel/training/final/{seq}",
                                "sintel/training/depth/{seq}", "depth", SINTEL_SEQUENCES, max_depth=70.0),
        "bonn": DatasetLayout("bonn", "Bonn", "depth", "bonn/rgbd_bonn_dataset/rgbd_bonn_{seq}/rgb_110",
                              "bonn/rgbd_bonn_dataset/rgbd_bonn_{seq}/depth_110", "depth", BONN_SEQUENCES,
                              png_scale=5000.0, max_depth=70.0),
        "kitti": DatasetLayout("kitti", "KITTI", "depth", f"{_KITTI}/image_gathered/{{seq}}",
                               f"{_KITTI}/groundtruth_depth_gathered/{{seq}}", "depth",
                               listing=f"{_KITTI}/image_gathered", png_scale=256.0),
    },
    "pose": {
        "sintel": DatasetLayout("sintel", "Sintel", "pose", "sintel/training/final/{seq}",
                                "sintel/training/camdata_left/{seq}", "sintel-cam", SINTEL_SEQUENCES),
        "tum": DatasetLayout("tum", "TUM dynamics", "pose", "tum/{seq}/rgb_90", "tum/{seq}/groundtruth_90.txt",
                             "trajectory", listing="tum"),
        "scannet": DatasetLayout("scannet", "ScanNet", "pose", "scannetv2/{seq}/color_90",
                                 "scannetv2/{seq}/pose_90.txt", "trajectory", listing="scannetv2"),
    },
}


@dataclass(frozen=True)
class Sequence:
    """One sequence: its dataset's layout, its name, its frame folder and its ground truth."""

    layout: DatasetLayout
    name: str
    frames: Path
    gt: Path

    @property
    def key(self) -> str:
        return f"{self.layout.name}/{self.name}"


def layout(task: Task, dataset: str) -> DatasetLayout:
    """The layout of ``dataset`` for ``task``; raises naming the known ones."""
    if dataset not in LAYOUTS[task]:
        raise MetricInputError(f"unknown {task} dataset {dataset!r}; choose from {', '.join(LAYOUTS[task])}")
    return LAYOUTS[task][dataset]


def find_sequences(root: Path, dataset: DatasetLayout) -> tuple[list[Sequence], list[str]]:
    """The sequences of ``dataset`` under ``root`` that have frames and ground truth (sorted), and the
    names of those the protocol lists (or whose folder exists) that lack either."""
    if dataset.sequences is not None:
        names = list(dataset.sequences)
    else:
        listing = root / dataset.listing
        names = sorted(p.name for p in listing.iterdir() if p.is_dir()) if listing.is_dir() else []
    found, missing = [], []
    for name in names:
        frames, gt = (root / pattern.format(seq=name) for pattern in (dataset.frames, dataset.gt))
        if frames.is_dir() and frame_files(frames, IMAGE_SUFFIXES) and gt.exists():
            found.append(Sequence(dataset, name, frames, gt))
        else:
            missing.append(name)
    return found, missing


def read_ground_truth(sequence: Sequence) -> np.ndarray | Trajectory:
    """Depth ``(F, H, W)`` (0 = invalid) or the camera trajectory of ``sequence``."""
    if sequence.layout.ground_truth == "depth":
        from aether.tasks.evaluation.depth_files import read_depth

        return read_depth(sequence.gt, sequence.layout.png_scale)
    if sequence.layout.ground_truth == "sintel-cam":
        from aether.tasks.evaluation.sintel_cameras import read_cam_folder

        return read_cam_folder(sequence.gt)
    from aether.tasks.evaluation.trajectory_files import read_trajectory

    return read_trajectory(sequence.gt)
