"""Analytic ray casting against planes, oriented boxes, spheres and a sky dome (NumPy, vectorised).

Rays are ``o + t d`` with one origin ``o (3,)`` and directions ``d (..., 3)`` whose camera-frame z
component is 1, so the hit parameter ``t`` is the z-depth. ``intersect`` returns ``t (...)`` with
``inf`` for a miss; ``surface`` gives texture coordinates in metres, the unit normal facing the ray
and a face index at hit points ``p (N, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aether.annotate.synthetic.textures import Texture

EPS = 1e-6
_CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
# The 12 edges of the box spanned by _CUBE: corner pairs that differ in one coordinate.
CUBE_EDGES = np.array([(i, j) for i in range(8) for j in range(i + 1, 8) if (_CUBE[i] != _CUBE[j]).sum() == 1])


def _facing(normal: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Flip ``normal (N, 3)`` to face against the rays ``d (N, 3)``."""
    return normal * -np.sign((normal * d).sum(-1, keepdims=True) + 1e-300)


@dataclass(kw_only=True)
class Primitive:
    """A textured surface of one semantic class; ``emissive`` surfaces (the sky) are not shaded."""

    label: int
    texture: Texture
    name: str = ""
    emissive: bool = False

    def corners(self) -> np.ndarray | None:
        """World corners ``(8, 3)`` of a bounding box, or None for unbounded surfaces."""
        return None


@dataclass(kw_only=True)
class Plane(Primitive):
    """The infinite plane through ``point`` with unit ``normal``; ``axes (2, 3)`` span it (uv metres)."""

    point: np.ndarray
    normal: np.ndarray
    axes: np.ndarray

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        denom = d @ self.normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((self.point - o) @ self.normal) / denom
        return np.where(np.isfinite(t) & (t > EPS), t, np.inf)

    def surface(self, p: np.ndarray, d: np.ndarray):
        uv = (p - self.point) @ self.axes.T
        normal = _facing(np.broadcast_to(self.normal, p.shape), d)
        return uv, normal, 0


@dataclass(kw_only=True)
class Box(Primitive):
    """A box seen from outside: ``center (3,)``, ``half`` extents ``(3,)``, ``rot (3, 3)`` world-from-box."""

    center: np.ndarray
    half: np.ndarray
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))

    def corners(self) -> np.ndarray:
        return self.center + (_CUBE * self.half) @ self.rot.T

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        ol = self.rot.T @ (o - self.center)
        dl = d @ self.rot
        dl = np.where(np.abs(dl) < 1e-12, 1e-12, dl)
        t1, t2 = (-self.half - ol) / dl, (self.half - ol) / dl
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        # Unrolled max/min over the 3 slabs: much faster than a reduction over a length-3 axis.
        near = np.maximum(np.maximum(lo[..., 0], lo[..., 1]), lo[..., 2])
        far = np.minimum(np.minimum(hi[..., 0], hi[..., 1]), hi[..., 2])
        return np.where((near <= far) & (near > EPS), near, np.inf)

    def surface(self, p: np.ndarray, d: np.ndarray):
        local = (p - self.center) @ self.rot
        axis = np.argmax(np.abs(local) / self.half, -1)
        sign = np.sign(local[np.arange(len(p)), axis])
        normal = np.zeros_like(local)
        normal[np.arange(len(p)), axis] = sign
        # The two in-face coordinates of each face: x-faces use (z, y), y-faces (x, z), z-faces (x, y).
        pick = np.array([[2, 1], [0, 2], [0, 1]])[axis]
        uv = np.take_along_axis(local, pick, -1)
        return uv, normal @ self.rot.T, 2 * axis + (sign > 0)


@dataclass(kw_only=True)
class Sphere(Primitive):
    """A sphere seen from outside; ``rot`` turns its texture (a rolling ball)."""

    center: np.ndarray
    radius: float
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))

    def corners(self) -> np.ndarray:
        return self.center + _CUBE * self.radius

    def _roots(self, o: np.ndarray, d: np.ndarray):
        oc = o - self.center
        a = (d * d).sum(-1)
        half_b = d @ oc
        disc = half_b ** 2 - a * (oc @ oc - self.radius ** 2)
        root = np.sqrt(np.maximum(disc, 0.0))
        return (-half_b - root) / a, (-half_b + root) / a, disc >= 0

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        near, _, hit = self._roots(o, d)
        return np.where(hit & (near > EPS), near, np.inf)

    def _lon_lat(self, p: np.ndarray) -> np.ndarray:
        n = (p - self.center) / self.radius
        local = n @ self.rot
        lon = np.arctan2(local[:, 0], local[:, 2])
        lat = np.arcsin(np.clip(local[:, 1], -1, 1))
        return np.stack([lon, lat], -1) * self.radius, n

    def surface(self, p: np.ndarray, d: np.ndarray):
        uv, n = self._lon_lat(p)
        return uv, n, 0


@dataclass(kw_only=True)
class SkyDome(Sphere):
    """The inside of a large sphere around the scene: a backdrop every escaping ray hits."""

    emissive: bool = True

    def corners(self) -> None:
        return None

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        _, far, hit = self._roots(o, d)
        return np.where(hit & (far > EPS), far, np.inf)

    def surface(self, p: np.ndarray, d: np.ndarray):
        uv, n = self._lon_lat(p)
        return uv, -n, 0
