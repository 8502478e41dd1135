"""Long videos by temporal sliding windows (docs/FORMATS.md#long-videos-and-evaluation, the released demo's window 41 /
stride 24), and frames larger than the model by overlapping spatial tiles.

Each window is reconstructed on its own (its first camera is the identity, its depth and
translation scale are arbitrary). Windows are merged in order into a running result: on the
frames a window shares with it, the window's depth is scaled by least squares onto the running
depth and its poses are mapped by a Sim(3) - rotation from the shared camera orientations
(orthogonal Procrustes by SVD, SciPy ``Rotation.align_vectors``), scale and translation by least
squares on the shared camera centres - then both are blended linearly across the overlap
(rotations by slerp), the weight of the new window rising from 0 to 1.

Rotation comes from orientations rather than from the centres (Umeyama) because a camera moving
straight ahead has collinear centres, which leave the rotation about that line undetermined.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from aether.core.errors import AetherError
from aether.core.progress import progress_bar
from aether.tasks.result import TaskResult, disparity_from_depth

# below this centre spread (relative to the scene depth) the overlap is a pure rotation and the
# depth scale also serves as the translation scale (a model window has one scale for both)
STATIC_SPREAD = 1e-4


class WindowError(AetherError, ValueError):
    """Impossible window settings or a window result of the wrong length."""


def plan_windows(num_frames: int, window: int = 41, stride: int = 24) -> list[tuple[int, int]]:
    """``(start, stop)`` frame ranges of ``4k + 1`` frames covering ``range(num_frames)``.

    Windows start every ``stride`` frames; the last one ends at the last frame (overlapping its
    predecessor more). A clip shorter than ``window`` uses the largest ``4k + 1`` that fits.
    """
    if window < 5 or (window - 1) % 4:
        raise WindowError(f"window must be 4k + 1 frames with k >= 1 (5, 9, ..., 41); got {window}")
    if num_frames < 5:
        raise WindowError(f"a clip needs at least 5 frames for one 4k + 1 window; got {num_frames}")
    if not 1 <= stride < window:
        raise WindowError(f"stride must be between 1 and window - 1 = {window - 1} so that windows overlap; "
                          f"got {stride}")
    window = min(window, (num_frames - 1) // 4 * 4 + 1)
    stride = min(stride, window - 1)
    starts = list(range(0, num_frames - window, stride)) + [num_frames - window]
    return [(s, s + window) for s in dict.fromkeys(starts)]


def _depth_scale(target: np.ndarray, source: np.ndarray) -> float:
    """Least-squares ``s`` minimising ``|s * source - target|`` over pixels valid in both."""
    valid = (target > 0) & (source > 0)
    if not valid.any():
        raise WindowError("overlapping windows share no valid depth pixel; use a larger overlap")
    a, b = source[valid].astype(np.float64), target[valid].astype(np.float64)
    return float(a @ b / (a @ a))


def align_poses(target: np.ndarray, source: np.ndarray, fallback_scale: float,
                reference_depth: float) -> np.ndarray:
    """Sim(3) mapping ``source`` c2w ``(L, 4, 4)`` onto ``target`` ``(L, 4, 4)``, as a
    ``(4, 4)`` matrix ``[[s R, t], [0, 1]]``. ``fallback_scale`` is used when the source centres
    do not move (spread below ``STATIC_SPREAD * reference_depth``)."""
    rot, _ = Rotation.align_vectors(np.swapaxes(target[:, :3, :3], 1, 2).reshape(-1, 3),
                                    np.swapaxes(source[:, :3, :3], 1, 2).reshape(-1, 3))
    R = rot.as_matrix()
    x, y = source[:, :3, 3], target[:, :3, 3]
    xc, yc = x - x.mean(0), y - y.mean(0)
    spread = np.sqrt((xc ** 2).sum(1).mean())
    scale = fallback_scale if spread < STATIC_SPREAD * reference_depth else \
        float(np.einsum("ij,ij->", xc @ R.T, yc) / (xc ** 2).sum())
    sim3 = np.eye(4)
    sim3[:3, :3] = scale * R
    sim3[:3, 3] = y.mean(0) - scale * R @ x.mean(0)
    return sim3


def apply_sim3(sim3: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Map c2w poses ``(F, 4, 4)`` by a similarity ``(4, 4)``; rotations stay orthonormal."""
    scale = np.cbrt(np.linalg.det(sim3[:3, :3]))
    out = sim3 @ c2w
    out[:, :3, :3] /= scale
    return out


def blend_poses(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-frame slerp / lerp from poses ``a`` to ``b`` ``(L, 4, 4)`` by ``weight (L,)`` in [0, 1]."""
    ra, rb = Rotation.from_matrix(a[:, :3, :3]), Rotation.from_matrix(b[:, :3, :3])
    out = a.copy()
    out[:, :3, :3] = (ra * Rotation.from_rotvec(weight[:, None] * (ra.inv() * rb).as_rotvec())).as_matrix()
    out[:, :3, 3] = _lerp(a[:, :3, 3], b[:, :3, 3], weight)
    return out


def _lerp(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    w = weight.reshape(-1, *([1] * (a.ndim - 1)))
    return (1 - w) * a + w * b


def _check_window(result: TaskResult, start: int, stop: int) -> None:
    if result.num_frames != stop - start:  # TaskResult itself checks its fields agree
        raise WindowError(f"run_window({start}, {stop}) returned {result.num_frames} frames; "
                          f"expected {stop - start}")


def reconstruct_long(run_window: Callable[[int, int], TaskResult], num_frames: int, window: int = 41,
                     stride: int = 24, progress: bool = True) -> TaskResult:
    """Reconstruct ``num_frames`` frames window by window and merge them into one result.

    ``run_window(start, stop)`` returns the :class:`TaskResult` of frames ``start:stop`` (its
    own first camera = identity). The merged result is in the first window's frame and scale.
    """
    spans = plan_windows(num_frames, window, stride)
    out: dict[str, np.ndarray] = {}
    end = 0  # frames [0, end) are merged
    for start, stop in progress_bar(spans, desc="windows", unit="window", disable=not progress or len(spans) == 1):
        res = run_window(start, stop)
        _check_window(res, start, stop)
        win = {"rgb": np.asarray(res.rgb), "depth": np.asarray(res.depth, np.float32),
               "c2w": np.asarray(res.c2w, np.float64), "K": np.asarray(res.K, np.float64)}
        if not out:
            first = res
            out = {key: np.zeros((num_frames, *value.shape[1:]), value.dtype) for key, value in win.items()}
        else:
            n = end - start  # frames shared with the merged result: merged [start:end], window [:n]
            old = {key: value[start:end] for key, value in out.items()}
            s_depth = _depth_scale(old["depth"], win["depth"][:n])
            win["depth"] = win["depth"] * np.float32(s_depth)
            shared = win["depth"][:n]
            sim3 = align_poses(old["c2w"], win["c2w"][:n], s_depth, float(np.median(shared[shared > 0])))
            win["c2w"] = apply_sim3(sim3, win["c2w"])
            weight = np.arange(1, n + 1) / (n + 1)
            blended = _lerp(old["depth"], shared, weight)
            # a pixel valid in only one of the two keeps that one's depth
            out["depth"][start:end] = np.where((old["depth"] > 0) & (shared > 0), blended,
                                               np.maximum(old["depth"], shared))
            out["c2w"][start:end] = blend_poses(old["c2w"], win["c2w"][:n], weight)
            out["K"][start:end] = _lerp(old["K"], win["K"][:n], weight)
            out["rgb"][start:end] = np.rint(_lerp(old["rgb"].astype(np.float32), win["rgb"][:n], weight))
            win = {key: value[n:] for key, value in win.items()}
        for key, value in win.items():
            out[key][end:stop] = value
        end = stop
    return TaskResult(rgb=out["rgb"], depth=out["depth"], disparity=disparity_from_depth(out["depth"]),
                      c2w=out["c2w"], K=out["K"], fps=first.fps, task=first.task)


# --------------------------------------------------------------------------- spatial tiles
def _tile_starts(size: int, tile: int, min_overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    count = int(np.ceil((size - min_overlap) / (tile - min_overlap)))
    return sorted({int(round(x)) for x in np.linspace(0, size - tile, count)})


def plan_tiles(height: int, width: int, tile: tuple[int, int] = (480, 720),
               min_overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` crops of ``tile = (h, w)`` pixels (smaller where the frame is) covering
    a ``height x width`` frame, neighbours sharing at least ``min_overlap`` of a tile; row-major,
    so every tile after the first overlaps one before it."""
    if not 0 < min_overlap < 1:
        raise WindowError(f"min_overlap is a share of the tile in (0, 1); got {min_overlap}")
    th, tw = min(tile[0], height), min(tile[1], width)
    ys = _tile_starts(height, th, int(np.ceil(min_overlap * th)))
    xs = _tile_starts(width, tw, int(np.ceil(min_overlap * tw)))
    return [(y, y + th, x, x + tw) for y in ys for x in xs]


def _feather(h: int, w: int) -> np.ndarray:
    """``(h, w)`` blending weights rising linearly from every tile edge (positive everywhere)."""
    def ramp(n: int) -> np.ndarray:
        return np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)) / ((n + 1) / 2)

    return np.outer(ramp(h), ramp(w))


def reconstruct_tiled(run_tile: Callable[[int, int, int, int], TaskResult], height: int, width: int,
                      tile: tuple[int, int] = (480, 720), min_overlap: float = 0.25,
                      progress: bool = True) -> TaskResult:
    """Reconstruct a clip whose frames exceed the model size from overlapping crops.

    ``run_tile(y0, y1, x0, x1)`` returns the :class:`TaskResult` of that crop of every frame (its
    K in crop pixels). Each tile's depth is scaled by least squares onto the mosaic built so far
    and blended with feathered weights; the cameras, the same for every crop, are averaged over
    tiles (translations times each tile's depth scale, rotations by quaternion mean) and K is
    moved back to full-frame pixels. The result is in the first tile's scale.
    """
    tiles = plan_tiles(height, width, tile, min_overlap)
    weight_sum = np.zeros((height, width))
    depth = rgb = None
    poses, intrinsics = [], []
    for y0, y1, x0, x1 in progress_bar(tiles, desc="tiles", unit="tile", disable=not progress or len(tiles) == 1):
        res = run_tile(y0, y1, x0, x1)
        t_depth = np.asarray(res.depth, np.float64)
        if depth is None:
            first = res
            depth = np.zeros((len(t_depth), height, width), np.float32)  # weighted sums
            rgb = np.zeros((len(t_depth), height, width, 3), np.float32)
        if t_depth.shape != (len(depth), y1 - y0, x1 - x0) or np.shape(res.rgb) != (*t_depth.shape, 3):
            raise WindowError(f"run_tile({y0}, {y1}, {x0}, {x1}) returned depth {t_depth.shape}; expected "
                              f"{(len(depth), y1 - y0, x1 - x0)} with matching colour frames")
        region = (slice(None), slice(y0, y1), slice(x0, x1))
        covered = weight_sum[y0:y1, x0:x1] > 0
        scale = 1.0
        if covered.any():
            mosaic = depth[region] / np.maximum(weight_sum[y0:y1, x0:x1], 1e-12)
            scale = _depth_scale(np.where(covered, mosaic, 0.0), t_depth)
        w = _feather(y1 - y0, x1 - x0)
        depth[region] += w * t_depth * scale
        rgb[region] += w[..., None] * np.asarray(res.rgb, np.float32)
        weight_sum[y0:y1, x0:x1] += w
        c2w = np.array(res.c2w, np.float64)
        c2w[:, :3, 3] *= scale
        poses.append(c2w)
        K = np.array(res.K, np.float64)
        K[:, 0, 2] += x0
        K[:, 1, 2] += y0
        intrinsics.append(K)
    depth = (depth / weight_sum).astype(np.float32)
    poses = np.stack(poses, axis=1)  # (F, tiles, 4, 4)
    c2w = np.tile(np.eye(4), (len(poses), 1, 1))
    c2w[:, :3, 3] = poses[:, :, :3, 3].mean(1)
    c2w[:, :3, :3] = [Rotation.from_matrix(p[:, :3, :3]).mean().as_matrix() for p in poses]
    rgb = np.clip(np.rint(rgb / weight_sum[..., None]), 0, 255).astype(np.uint8)
    return TaskResult(rgb=rgb, depth=depth, disparity=disparity_from_depth(depth), c2w=c2w,
                      K=np.mean(intrinsics, axis=0), fps=first.fps, task=first.task)
