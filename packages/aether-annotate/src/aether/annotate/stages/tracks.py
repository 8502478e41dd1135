"""Long point tracks on static regions: Shi-Tomasi corners followed frame to frame by pyramidal
Lucas-Kanade (OpenCV) with a forward-backward check, new corners seeded wherever tracks are sparse.
A stand-in for learned trackers (CoTracker3): same output, point observations grouped by track."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A small window: larger ones straddle occlusions and average the perspective change of the patch.
_LK = {"winSize": (11, 11), "maxLevel": 3,
       "criteria": (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 0.003)}


@dataclass
class Tracks:
    """Observations of point tracks: ``track (M,)`` track ids, ``frame (M,)`` positions in the frame set,
    ``xy (M, 2)`` float64 pixel coordinates (integer pixel centres); sorted by track, then frame."""

    track: np.ndarray
    frame: np.ndarray
    xy: np.ndarray

    def __len__(self) -> int:
        return len(self.track)

    def between(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(P, 2)`` in frame ``a`` and ``(P, 2)`` in frame ``b`` of the tracks seen in both."""
        ia, ib = np.flatnonzero(self.frame == a), np.flatnonzero(self.frame == b)
        _, pa, pb = np.intersect1d(self.track[ia], self.track[ib], return_indices=True)
        return self.xy[ia[pa]], self.xy[ib[pb]]


def track_points(rgb: np.ndarray, usable: np.ndarray, max_points: int = 800, min_distance: int = 6,
                 fb_px: float = 0.5, quality: float = 0.0005) -> Tracks:
    """Tracks through ``rgb (N, H, W, 3)`` of points on ``usable (N, H, W)`` bool pixels: a track ends when
    Lucas-Kanade loses it, its forward-backward error exceeds ``fb_px`` or it leaves the usable pixels.
    ``quality`` is relative to the strongest corner (OpenCV's rule), so it is low: one high-contrast pattern
    must not starve the rest of the frame of points."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]
    h, w = gray[0].shape
    active, ids = np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
    next_id, obs_t, obs_f, obs_xy = 0, [], [], []
    for k in range(len(gray)):
        if k and len(active):
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(gray[k - 1], gray[k], active, None, **_LK)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray[k], gray[k - 1], nxt, None, **_LK)
            ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - active, axis=1) < fb_px)
            ok &= (nxt[:, 0] >= 0) & (nxt[:, 0] <= w - 1) & (nxt[:, 1] >= 0) & (nxt[:, 1] <= h - 1)
            px = np.round(nxt[ok]).astype(np.int64)
            ok[ok] = usable[k][px[:, 1], px[:, 0]]
            active, ids = nxt[ok], ids[ok]
        if len(active) < max_points:
            free = usable[k].astype(np.uint8) * 255
            for x, y in np.round(active).astype(int):
                cv2.circle(free, (int(x), int(y)), min_distance, 0, -1)
            new = cv2.goodFeaturesToTrack(gray[k], max_points - len(active), quality, min_distance, mask=free)
            if new is not None:
                new = new.reshape(-1, 2).astype(np.float32)
                active = np.concatenate([active, new])
                ids = np.concatenate([ids, np.arange(next_id, next_id + len(new))])
                next_id += len(new)
        obs_t.append(ids)
        obs_f.append(np.full(len(ids), k))
        obs_xy.append(active.astype(np.float64))
    track, frame, xy = np.concatenate(obs_t), np.concatenate(obs_f), np.concatenate(obs_xy)
    order = np.lexsort((frame, track))
    return Tracks(track[order], frame[order], xy[order])
