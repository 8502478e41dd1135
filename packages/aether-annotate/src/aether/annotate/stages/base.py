"""What the four stage plugins exchange: the frames of one clip or slice with their static masks and a
shared SIFT cache, the slicing plan, and cameras. Stages are built by name from the registry
(``<stage>.<method>``, hook ``aether_annotation_stages``) with their options as keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from aether.annotate.stages.features import Keypoints, depth_edges, sift
from aether.annotate.stages.tracks import Tracks, track_points
from aether.core.errors import AetherError


class AnnotateError(AetherError, ValueError):
    """A clip or setting the annotation pipeline cannot work with."""


class StageOptions(BaseModel):
    """Base of every stage's options: validated, unknown keys and non-finite numbers rejected (inf passes
    ``gt=0``, NaN fails no bound check silently: either would turn the stage's residuals into NaN)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass
class Frames:
    """Frames of a clip (or of one slice) as the stages see them.

    ``rgb (N, H, W, 3)`` uint8, ``depth (N, H, W)`` metres (0 = invalid), ``static (N, H, W)`` bool (pixels
    the masking stage kept), ``index (N,)`` the original frame indices. SIFT keypoints of each frame and
    the point tracks of the set are computed once, on static pixels with valid depth (tracks also away from
    depth edges), and shared by every stage.
    """

    rgb: np.ndarray
    depth: np.ndarray
    static: np.ndarray
    index: np.ndarray
    max_features: int = 2000
    max_tracks: int = 800
    edge_margin: int = 5
    _cache: dict[int, Keypoints] = field(default_factory=dict, repr=False)
    _tracks: Tracks | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rgb)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[2])

    def usable(self, i: int) -> np.ndarray:
        """``(H, W)`` bool: static pixels of frame ``i`` with valid depth, ``edge_margin`` pixels away from depth
        edges (a tracked patch straddling an occlusion slides with the nearer surface)."""
        edges = depth_edges(self.depth[i]).astype(np.uint8)
        size = 2 * self.edge_margin + 1
        edges = cv2.dilate(edges, np.ones((size, size), np.uint8)).astype(bool)
        return self.static[i] & (self.depth[i] > 0) & ~edges

    def keypoints(self, i: int) -> Keypoints:
        """SIFT keypoints of frame ``i`` (position in this set) on its static pixels with valid depth."""
        if i not in self._cache:
            self._cache[i] = sift(self.rgb[i], self.static[i] & (self.depth[i] > 0), self.max_features)
        return self._cache[i]

    def tracks(self) -> Tracks:
        """Point tracks through all frames of the set, on usable pixels."""
        if self._tracks is None:
            usable = np.stack([self.usable(i) for i in range(len(self))])
            self._tracks = track_points(self.rgb, usable, self.max_tracks)
        return self._tracks

    def downscaled(self, max_width: int) -> "Frames":
        """These frames halved (``cv2.pyrDown``; depth and masks subsampled alike) until at most ``max_width``
        wide; a new keypoint cache."""
        rgb, depth, static = self.rgb, self.depth, self.static
        while rgb.shape[2] > max_width:
            rgb = np.stack([cv2.pyrDown(f) for f in rgb])
            depth, static = depth[:, ::2, ::2], static[:, ::2, ::2]
        return Frames(rgb, depth, static, self.index, self.max_features, self.max_tracks, self.edge_margin)

    def select(self, positions: np.ndarray | list[int]) -> "Frames":
        """The frames at ``positions`` of this set, keeping the keypoints already computed."""
        positions = np.asarray(positions, np.int64)
        cache = {new: self._cache[old] for new, old in enumerate(positions) if old in self._cache}
        return Frames(self.rgb[positions], self.depth[positions], self.static[positions], self.index[positions],
                      self.max_features, self.max_tracks, self.edge_margin, cache)


@dataclass
class SlicePlan:
    """Output of a slicing stage: ``slices`` (lists of positions into the frames, each a run of consecutive
    frames), ``dropped`` ({position: reason}), ``cuts`` ([{"between": [a, b], "reason": ...}]) and ``stats``
    for the report ({name: list}, one value per frame or per checked pair of consecutive frames)."""

    slices: list[list[int]]
    dropped: dict[int, str]
    cuts: list[dict]
    stats: dict[str, list]


@dataclass
class Cameras:
    """Cameras of one slice: ``K (3, 3)`` shared by its frames, pixels with integer pixel centres;
    ``c2w (N, 4, 4)`` OpenCV axes, world = the first frame (``c2w[0]`` is the identity), metres of the
    depth. ``registered`` counts the leading frames that got a pose (the rest are to be dropped, for
    ``reason``); ``info`` holds residuals and counts for the report. ``intrinsics_fixed``: K is not to be
    refined (given, or standing in for intrinsics the frames cannot reveal)."""

    K: np.ndarray
    c2w: np.ndarray
    registered: int
    reason: str | None = None
    info: dict = field(default_factory=dict)
    intrinsics_fixed: bool = False
