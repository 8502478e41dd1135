"""Shared fixture: tiny fake benchmark datasets written in the layouts CUT3R's preparation scripts give
(SPEC §9), with the paths spelled out here rather than taken from the code under test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.codecs.cameras import write_tum

KITTI = "kitti/depth_selection/val_selection_cropped"
SINTEL_TAG = np.float32(202021.25)


def _images(folder: Path, rgb: np.ndarray, suffix: str = ".png", first: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(rgb):
        cv2.imwrite(str(folder / f"frame_{first + i:04d}{suffix}"), frame[..., ::-1])


def _png16(folder: Path, values: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(values):
        cv2.imwrite(str(folder / f"frame_{i:04d}.png"), frame.astype(np.uint16))


class BenchmarkFakes:
    """Writers of fake benchmark data (each sequence under ``root`` as the benchmark expects it) and the frames
    and trajectories they hold."""

    @staticmethod
    def frames(count: int, height: int, width: int, seed: int) -> np.ndarray:
        """Random uint8 RGB frames ``(count, height, width, 3)``."""
        return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)

    @staticmethod
    def write_sintel_depth(root: Path, seq: str, rgb: np.ndarray, depth: np.ndarray) -> None:
        """``final/<seq>/frame_0001.png`` and ``depth/<seq>/frame_0001.dpt`` (tag, width, height, float32)."""
        _images(root / "sintel/training/final" / seq, rgb, first=1)
        folder = root / "sintel/training/depth" / seq
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(depth):
            header = SINTEL_TAG.tobytes() + np.array(frame.shape[::-1], "<i4").tobytes()
            (folder / f"frame_{i + 1:04d}.dpt").write_bytes(header + frame.astype("<f4").tobytes())

    @staticmethod
    def write_bonn(root: Path, seq: str, rgb: np.ndarray, png: np.ndarray) -> None:
        """``rgbd_bonn_<seq>/rgb_110`` and ``depth_110`` (16-bit PNG, depth = value / 5000)."""
        base = root / "bonn/rgbd_bonn_dataset" / f"rgbd_bonn_{seq}"
        _images(base / "rgb_110", rgb)
        _png16(base / "depth_110", png)

    @staticmethod
    def write_kitti(root: Path, seq: str, rgb: np.ndarray, png: np.ndarray) -> None:
        """``image_gathered/<seq>`` and ``groundtruth_depth_gathered/<seq>`` (16-bit PNG, depth = value / 256)."""
        _images(root / KITTI / "image_gathered" / seq, rgb)
        _png16(root / KITTI / "groundtruth_depth_gathered" / seq, png)

    @staticmethod
    def trajectory(count: int, seed: int) -> np.ndarray:
        """A smooth random camera-to-world trajectory ``(count, 4, 4)``."""
        rng = np.random.default_rng(seed)
        c2w = np.tile(np.eye(4), (count, 1, 1))
        c2w[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.05, (count, 3)), 0)).as_matrix()
        c2w[:, :3, 3] = np.cumsum(rng.normal(0, 0.3, (count, 3)), 0)
        return c2w

    @staticmethod
    def write_sintel_cameras(root: Path, seq: str, rgb: np.ndarray, c2w: np.ndarray) -> None:
        """``final/<seq>`` and ``camdata_left/<seq>/frame_0001.cam`` (tag, K 3x3, world-to-camera 3x4, float64)."""
        _images(root / "sintel/training/final" / seq, rgb, first=1)
        folder = root / "sintel/training/camdata_left" / seq
        folder.mkdir(parents=True, exist_ok=True)
        K = np.array([[100.0, 0, 20], [0, 100, 10], [0, 0, 1]])
        for i, pose in enumerate(c2w):
            w2c = np.linalg.inv(pose)[:3]
            (folder / f"frame_{i + 1:04d}.cam").write_bytes(SINTEL_TAG.tobytes() + K.astype("<f8").tobytes()
                                                            + w2c.astype("<f8").tobytes())

    @staticmethod
    def write_tum_sequence(root: Path, seq: str, rgb: np.ndarray, c2w: np.ndarray) -> None:
        """``tum/<seq>/rgb_90`` and ``groundtruth_90.txt`` (TUM lines, 30 Hz stamps)."""
        _images(root / "tum" / seq / "rgb_90", rgb)
        write_tum(root / "tum" / seq / "groundtruth_90.txt", 1305031102.0 + np.arange(len(c2w)) / 30, c2w)

    @staticmethod
    def write_scannet(root: Path, seq: str, rgb: np.ndarray, c2w: np.ndarray) -> None:
        """``scannetv2/<seq>/color_90/*.jpg`` and ``pose_90.txt`` (a 4x4 c2w, 16 numbers, per line)."""
        _images(root / "scannetv2" / seq / "color_90", rgb, suffix=".jpg")
        np.savetxt(root / "scannetv2" / seq / "pose_90.txt", c2w.reshape(len(c2w), 16))

    @staticmethod
    def similar(c2w: np.ndarray, scale: float, seed: int) -> np.ndarray:
        """``c2w (N, 4, 4)`` moved by a random similarity and re-expressed relative to its first pose: what a
        perfect method with its own scale and frame predicts."""
        sim = np.eye(4)
        sim[:3, :3] = Rotation.random(random_state=seed).as_matrix() * scale
        sim[:3, 3] = np.random.default_rng(seed).normal(0, 1, 3)
        moved = sim @ c2w
        moved[:, :3, :3] /= scale
        return np.linalg.inv(moved[0]) @ moved


@pytest.fixture(scope="session")
def fakes() -> type[BenchmarkFakes]:
    """The fake benchmark writers (a fixture, since test modules cannot import a conftest)."""
    return BenchmarkFakes
