"""Named camera trajectories for action-conditioned prediction and planning.

Poses are camera-to-world ``(F, 4, 4)`` float64 in the first camera's frame (first pose =
identity), OpenCV axes: x right, y down, z forward. ``step`` is the translation per frame (in
the scene's units, i.e. of the nearest depth when the model's scale is unknown), ``degrees`` the
rotation per frame, ``radius`` the distance to the orbit centre in front of the first camera.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from aether.core.errors import AetherError


class TrajectoryError(AetherError, ValueError):
    """An unknown trajectory name or invalid trajectory parameters."""

# motion at frame index i (array) -> (rotation vectors (F, 3) radians, centres (F, 3))
_Motion = Callable[[np.ndarray, float, float, float], tuple[np.ndarray, np.ndarray]]


def _translate(direction: tuple[float, float, float]) -> _Motion:
    def motion(i, step, angle, radius):
        return np.zeros((len(i), 3)), np.outer(i * step, direction)
    return motion


def _rotate(axis: tuple[float, float, float]) -> _Motion:
    def motion(i, step, angle, radius):
        return np.outer(i * angle, axis), np.zeros((len(i), 3))
    return motion


def _orbit(sign: float) -> _Motion:
    """Circle the point ``(0, 0, radius)`` while looking at it (yaw about the camera's y axis)."""
    def motion(i, step, angle, radius):
        theta = sign * i * angle
        centres = np.stack([-radius * np.sin(theta), np.zeros_like(theta), radius * (1 - np.cos(theta))], -1)
        return np.outer(theta, [0.0, 1.0, 0.0]), centres
    return motion


# y points down: yaw about +y by a positive angle turns z towards +x (right); pitch about +x by a
# positive angle turns z towards -y (up).
TRAJECTORIES: dict[str, _Motion] = {
    "static": _translate((0.0, 0.0, 0.0)),
    "forward": _translate((0.0, 0.0, 1.0)),
    "backward": _translate((0.0, 0.0, -1.0)),
    "left": _translate((-1.0, 0.0, 0.0)),
    "right": _translate((1.0, 0.0, 0.0)),
    "up": _translate((0.0, -1.0, 0.0)),
    "down": _translate((0.0, 1.0, 0.0)),
    "turn-left": _rotate((0.0, -1.0, 0.0)),
    "turn-right": _rotate((0.0, 1.0, 0.0)),
    "look-up": _rotate((1.0, 0.0, 0.0)),
    "look-down": _rotate((-1.0, 0.0, 0.0)),
    "orbit-left": _orbit(1.0),   # the camera moves left, turning right to keep the centre in view
    "orbit-right": _orbit(-1.0),
}
TRAJECTORIES["orbit"] = TRAJECTORIES["orbit-left"]
DEFAULT_STEP, DEFAULT_DEGREES = 0.05, 2.0  # a named path's translation and rotation per frame at speed 1


def trajectory_names() -> list[str]:
    """Every name :func:`named_trajectory` accepts."""
    return sorted(TRAJECTORIES)


def check_trajectory_name(name: str) -> None:
    """Raise :class:`TrajectoryError` unless :func:`named_trajectory` knows ``name``."""
    if name not in TRAJECTORIES:
        raise TrajectoryError(f"unknown trajectory {name!r}; choose one of: {', '.join(trajectory_names())}")


def named_trajectory(name: str, num_frames: int, step: float = DEFAULT_STEP, degrees: float = DEFAULT_DEGREES,
                     radius: float = 1.0) -> np.ndarray:
    """The camera path ``name`` as c2w ``(num_frames, 4, 4)`` float64, first pose identity."""
    from scipy.spatial.transform import Rotation  # here: the CLI lists the names without SciPy

    check_trajectory_name(name)
    if int(num_frames) != num_frames or num_frames < 1:
        raise TrajectoryError(f"num_frames must be a positive integer; got {num_frames}")
    for label, value in (("step", step), ("degrees", degrees), ("radius", radius)):
        if not np.isfinite(value):
            raise TrajectoryError(f"{label} must be finite; got {value}")
    rotvecs, centres = TRAJECTORIES[name](np.arange(int(num_frames), dtype=np.float64), float(step),
                                          np.deg2rad(degrees), float(radius))
    c2w = np.tile(np.eye(4), (int(num_frames), 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(rotvecs).as_matrix()
    c2w[:, :3, 3] = centres
    return c2w
