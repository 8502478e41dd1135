"""Slicing stage: drop frames the cameras cannot be recovered from and cut the clip where consecutive
frames stop being one continuous shot."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from aether.annotate.stages.base import Frames, SlicePlan, StageOptions
from aether.annotate.stages.features import match
from aether.annotate.stages.masking import dense_flow


class FlowSlicingOptions(StageOptions):
    min_keypoints: int = Field(12, ge=0, description="fewer SIFT keypoints on static pixels drop the frame")
    dark_level: float = Field(12.0, ge=0, le=255, description="mean grey level below which a frame is dark")
    min_texture: float = Field(2.0, ge=0, description="mean |Laplacian| (grey levels) below which a frame "
                                                      "is textureless")
    max_dynamic: float = Field(0.6, ge=0, le=1, description="dynamic-pixel fraction above which a frame is "
                                                            "dropped")
    max_flow: float = Field(0.25, gt=0, description="median static flow, as a fraction of the image width, "
                                                    "above which the clip is cut")
    fb_px: float = Field(1.0, gt=0, description="forward-backward flow error (pixels) counted as inconsistent")
    max_fb_ratio: float = Field(0.5, gt=0, le=1, description="fraction of inconsistent static pixels above "
                                                             "which the clip is cut")
    min_match_ratio: float = Field(0.05, ge=0, le=1, description="SIFT matches over keypoints of the pair "
                                                                 "below which the clip is cut")
    min_frames: int = Field(3, ge=2, description="shorter slices are discarded")
    max_width: int = Field(192, ge=16, description="SIFT and flow run on frames halved until at most this wide: "
                                                   "they judge continuity, not geometry, and each halving "
                                                   "makes them 4x cheaper (keypoints are counted there too)")


def _frame_reason(o: FlowSlicingOptions, bright: float, texture: float, keypoints: int, dynamic: float) -> str | None:
    if bright < o.dark_level:
        return f"dark (mean grey {bright:.1f} < {o.dark_level:g})"
    if texture < o.min_texture:
        return f"low texture (mean |Laplacian| {texture:.2f} < {o.min_texture:g})"
    if dynamic > o.max_dynamic:
        return f"dynamic regions dominate ({100 * dynamic:.0f} % of pixels > {100 * o.max_dynamic:.0f} %)"
    if keypoints < o.min_keypoints:
        return f"too few SIFT keypoints on static regions ({keypoints} < {o.min_keypoints})"
    return None


class FlowSlicing:
    """``slicing.flow``: per frame, brightness, texture, dynamic-area ratio and SIFT keypoint count decide
    whether it is dropped; per consecutive pair, SIFT match ratio, median DIS optical-flow magnitude and
    the forward-backward flow consistency on static pixels decide whether the clip is cut between them.
    A dropped frame ends its slice too, so every slice is a run of consecutive frames."""

    def __init__(self, **options) -> None:
        self.options = FlowSlicingOptions(**options)

    def _pair_reason(self, frames: Frames, a: int, b: int, full_width: int) -> tuple[str | None, dict]:
        o = self.options
        ka, kb = frames.keypoints(a), frames.keypoints(b)
        matched = len(match(ka, kb)) / max(min(len(ka), len(kb)), 1)
        forward = dense_flow(frames.rgb[a], frames.rgb[b])
        backward = dense_flow(frames.rgb[b], frames.rgb[a])
        h, w = frames.shape
        fb_px = o.fb_px * w / full_width  # the option is in pixels of the full frames
        v, u = np.mgrid[0:h, 0:w].astype(np.float32)
        tu, tv = u + forward[..., 0], v + forward[..., 1]
        back = cv2.remap(backward, tu, tv, cv2.INTER_LINEAR)
        error = np.linalg.norm(forward + back, axis=-1)
        inside = (tu >= 0) & (tu <= w - 1) & (tv >= 0) & (tv <= h - 1)
        static = frames.static[a] & inside
        magnitude = np.linalg.norm(forward, axis=-1)
        flow = float(np.median(magnitude[static]) / w) if static.any() else 0.0
        fb = float(((error > fb_px + 0.05 * magnitude) & static).sum() / max(static.sum(), 1))
        stats = {"match_ratio": round(matched, 4), "flow": round(flow, 4), "fb_ratio": round(fb, 4)}
        if matched < o.min_match_ratio:
            return f"few SIFT matches ({100 * matched:.0f} % of keypoints < {100 * o.min_match_ratio:.0f} %)", stats
        if flow > o.max_flow:
            return f"optical flow too large (median {100 * flow:.1f} % of the width > {100 * o.max_flow:.0f} %)", stats
        if fb > o.max_fb_ratio:
            return (f"forward-backward flow inconsistent ({100 * fb:.0f} % of static pixels > "
                    f"{100 * o.max_fb_ratio:.0f} %)"), stats
        return None, stats

    def __call__(self, frames: Frames) -> SlicePlan:
        """Plan the slices of ``frames``; positions are indices into ``frames``."""
        o = self.options
        gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames.rgb])
        bright = gray.reshape(len(frames), -1).mean(1)
        texture = np.array([np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean() for g in gray])
        dynamic = 1.0 - frames.static.reshape(len(frames), -1).mean(1)
        small = frames.downscaled(o.max_width)
        stats: dict[str, list] = {"brightness": bright.round(2).tolist(), "texture": texture.round(3).tolist(),
                                  "dynamic": dynamic.round(4).tolist(), "keypoints": [],
                                  "match_ratio": [], "flow": [], "fb_ratio": []}
        dropped: dict[int, str] = {}
        for i in range(len(frames)):
            # Keypoints are only worth computing on frames that pass the cheap tests.
            cheap = _frame_reason(o, bright[i], texture[i], o.min_keypoints, dynamic[i])
            count = 0 if cheap else len(small.keypoints(i))
            stats["keypoints"].append(count)
            reason = cheap or _frame_reason(o, bright[i], texture[i], count, dynamic[i])
            if reason:
                dropped[i] = reason
        cuts, runs, current = [], [], []
        for i in range(len(frames)):
            if i in dropped:
                runs.append(current)
                current = []
                continue
            if current:
                reason, pair = self._pair_reason(small, current[-1], i, frames.shape[1])
                for key, value in pair.items():
                    stats[key].append(value)
                if reason:
                    cuts.append({"between": [current[-1], i], "reason": reason})
                    runs.append(current)
                    current = []
            current.append(i)
        runs.append(current)
        slices = []
        for run in runs:
            if len(run) >= o.min_frames:
                slices.append(run)
            else:
                dropped.update({i: f"slice too short ({len(run)} < {o.min_frames} frames)" for i in run})
        return SlicePlan(slices, dict(sorted(dropped.items())), cuts, stats)
