"""Procedural layouts: a closed room or a street with buildings and sky, static clutter and moving
objects of dynamic classes, all placed clear of the camera path."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from aether.annotate.synthetic.cameras import rotation
from aether.annotate.synthetic.config import SceneConfig
from aether.annotate.synthetic.geometry import Box, Plane, Primitive, SkyDome, Sphere
from aether.annotate.synthetic.textures import Texture, random_texture

CLASSES: tuple[str, ...] = ("background", "wall", "floor", "ceiling", "furniture", "object", "building", "road",
                            "sidewalk", "pole", "car", "person", "ball")
DYNAMIC_CLASSES: tuple[str, ...] = ("car", "person", "ball")
LABEL = {name: i for i, name in enumerate(CLASSES)}
CAMERA_CLEARANCE = 0.5  # metres between the camera centre and any static surface
MOVER_CLEARANCE = 1.5  # moving objects keep further away so they do not fill the view
_TRIES = 40
_EX, _EY, _EZ = np.eye(3)


@dataclass
class Mover:
    """A primitive moving on the floor at ``velocity`` (m/s) from ``anchor`` (its position at time
    ``t_ref``) with a sinusoidal weave; boxes face their heading, spheres roll."""

    shape: Box | Sphere
    anchor: np.ndarray
    velocity: np.ndarray
    t_ref: float
    weave: tuple[float, float, float] = (0.0, 1.0, 0.0)  # amplitude (m), angular rate (rad/s), phase

    def position(self, tau: np.ndarray) -> np.ndarray:
        """Centres ``(F, 3)`` at times ``tau (F,)`` in seconds."""
        amp, omega, phase = self.weave
        side = np.cross(self.velocity, _EY)
        side = side / max(np.linalg.norm(side), 1e-9)
        dt = np.asarray(tau, np.float64)[:, None] - self.t_ref
        return self.anchor + self.velocity * dt + amp * np.sin(omega * dt + phase) * side

    def at(self, tau: float) -> Primitive:
        """The primitive posed at time ``tau`` (seconds)."""
        center = self.position(np.array([tau]))[0]
        if isinstance(self.shape, Sphere):
            distance = np.linalg.norm(self.velocity) * (tau - self.t_ref) / self.shape.radius
            axis = np.cross(_EY, self.velocity)
            axis = axis / max(np.linalg.norm(axis), 1e-9)
            k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            rot = np.eye(3) + np.sin(distance) * k + (1 - np.cos(distance)) * k @ k
        else:
            ahead = self.position(np.array([tau + 1e-3]))[0] - center
            rot = rotation(np.array([np.arctan2(ahead[0], ahead[2])]), np.zeros(1), np.zeros(1))[0]
        return replace(self.shape, center=center, rot=rot)


@dataclass
class Layout:
    """Everything the renderer needs besides the camera: surfaces, movers, light and a JSON summary."""

    static: list[Primitive]
    movers: list[Mover]
    light: np.ndarray  # unit vector towards the sun (3,)
    ambient: float
    sun: float
    summary: dict = field(default_factory=dict)


def clearance(shape: Box | Sphere, points: np.ndarray) -> np.ndarray:
    """Distance ``(N,)`` from ``points (N, 3)`` to the surface of ``shape`` (<= 0 inside)."""
    if isinstance(shape, Sphere):
        return np.linalg.norm(points - shape.center, axis=-1) - shape.radius
    q = np.abs((points - shape.center) @ shape.rot) - shape.half
    return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)


def _axis_plane(label: str, texture: Texture, axis: int, offset: float, name: str) -> Plane:
    normal = np.eye(3)[axis]
    axes = np.eye(3)[[a for a in (0, 2, 1) if a != axis]]
    return Plane(label=LABEL[label], texture=texture, name=name, point=normal * offset, normal=normal, axes=axes)


def _box(label: str, texture: Texture, lo: np.ndarray, hi: np.ndarray, yaw: float = 0.0, name: str = "") -> Box:
    rot = rotation(np.array([yaw]), np.zeros(1), np.zeros(1))[0]
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return Box(label=LABEL[label], texture=texture, name=name, center=(lo + hi) / 2, half=(hi - lo) / 2, rot=rot)


def _describe(prim: Primitive, dynamic: bool = False) -> dict:
    size = (2 * prim.half).round(3).tolist() if isinstance(prim, Box) else [round(2 * prim.radius, 3)] * 3
    return {"name": prim.name, "class": CLASSES[prim.label], "shape": type(prim).__name__.lower(),
            "dynamic": dynamic, "center": prim.center.round(3).tolist(), "size": size, "texture": prim.texture.kind}


def _place(rng: np.random.Generator, make: Callable[[], Primitive | Mover], ok: Callable[[object], bool]):
    """Draw candidates from ``make`` until one passes ``ok``; None after a bounded number of tries."""
    for _ in range(_TRIES):
        candidate = make()
        if ok(candidate):
            return candidate
    return None


class _Builder:
    """Shared state of one layout: the config, its random stream, the camera path and the result lists."""

    def __init__(self, cfg: SceneConfig, rng: np.random.Generator, c2w: np.ndarray, fps: float):
        self.cfg, self.rng, self.c2w = cfg, rng, c2w
        self.cams = c2w[:, :3, 3]
        self.tau = np.arange(len(c2w)) / fps
        self.static: list[Primitive] = []
        self.movers: list[Mover] = []

    def texture(self, kinds: tuple[str, ...] | None = None, cell: tuple[float, float] = (0.15, 0.8)) -> Texture:
        allowed = tuple(k for k in (kinds or self.cfg.textures) if k in self.cfg.textures) or self.cfg.textures
        return random_texture(self.rng, allowed, self.cfg.texture_scale, self.cfg.texture_contrast, cell)

    def add_static(self, prim: Primitive | None) -> None:
        if prim is not None:
            self.static.append(prim)

    def clear_of_camera(self, shape: Box | Sphere) -> bool:
        return bool(clearance(shape, self.cams).min() > CAMERA_CLEARANCE)

    def moving_clear(self, mover: Mover, inside: Callable[[np.ndarray], bool] = lambda p: True) -> bool:
        gaps = [clearance(mover.at(t), cam[None])[0] for t, cam in zip(self.tau, self.cams)]
        return min(gaps) > MOVER_CLEARANCE and inside(mover.position(self.tau))

    def view_point(self, near: float, far: float, side: float) -> tuple[np.ndarray, float]:
        """A floor point in view of the camera at a random mid-clip frame, and that frame's time."""
        f = int(self.rng.integers(len(self.cams) // 4, max(3 * len(self.cams) // 4, len(self.cams) // 4 + 1)))
        ahead = self.c2w[f, :3, 2] * np.array([1.0, 0.0, 1.0])
        ahead /= max(np.linalg.norm(ahead), 1e-9)
        right = np.cross(_EY, ahead)
        point = self.cams[f] + ahead * self.rng.uniform(near, far) + right * self.rng.uniform(-side, side)
        return point, float(self.tau[f])

    def weave(self) -> tuple[float, float, float]:
        return (self.rng.uniform(0.0, 0.5), self.rng.uniform(0.5, 2.0), self.rng.uniform(0, 2 * np.pi))

    def heading(self) -> np.ndarray:
        angle = self.rng.uniform(-np.pi, np.pi)
        return np.array([np.sin(angle), 0.0, np.cos(angle)])

    def sun(self, ambient: tuple[float, float]) -> tuple[np.ndarray, float, float]:
        elevation, azimuth = self.rng.uniform(0.5, 1.2), self.rng.uniform(-np.pi, np.pi)
        light = np.array([np.cos(elevation) * np.sin(azimuth), -np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
        return light, float(self.rng.uniform(*ambient)), float(self.rng.uniform(0.55, 0.85))


def build_room(cfg: SceneConfig, rng: np.random.Generator, c2w: np.ndarray, fps: float,
               target: np.ndarray | None = None) -> Layout:
    """A closed room around the camera path (walls, floor, ceiling), furniture and objects on the floor,
    and walking people / rolling balls."""
    b = _Builder(cfg, rng, c2w, fps)
    floor = float(b.cams[:, 1].max() + rng.uniform(1.2, 1.7))
    ceiling = float(b.cams[:, 1].min() - rng.uniform(0.9, 2.0))
    # The room holds the camera path and, for orbits, 1 m around the orbited point.
    around = [] if target is None else [target + [1.0, 0, 1.0], target - [1.0, 0, 1.0]]
    extent = np.concatenate([b.cams, np.reshape(around, (-1, 3))])
    lo = extent.min(0) - rng.uniform(1.8, 4.5, 3)
    hi = extent.max(0) + rng.uniform(1.8, 4.5, 3)
    b.add_static(_axis_plane("floor", b.texture(("tiles", "checker", "noise", "bricks")), 1, floor, "floor"))
    b.add_static(_axis_plane("ceiling", b.texture(), 1, ceiling, "ceiling"))
    for axis, bound, name in ((0, lo[0], "wall_left"), (0, hi[0], "wall_right"), (2, lo[2], "wall_back"),
                              (2, hi[2], "wall_front")):
        b.add_static(_axis_plane("wall", b.texture(cell=(0.2, 1.2)), axis, bound, name))

    def furniture(center_xz: np.ndarray | None = None) -> Primitive:
        x, z = center_xz if center_xz is not None else rng.uniform(lo[[0, 2]] + 0.5, hi[[0, 2]] - 0.5)
        if rng.random() < 0.7:
            half = rng.uniform([0.2, 0.15, 0.2], [0.8, 0.7, 0.8])
            return _box("furniture", b.texture(cell=(0.08, 0.4)), [x, floor - 2 * half[1], z] - half * [1, 0, 1],
                        [x, floor, z] + half * [1, 0, 1], rng.uniform(-np.pi, np.pi), "furniture")
        r = rng.uniform(0.2, 0.6)
        return Sphere(label=LABEL["object"], texture=b.texture(cell=(0.05, 0.3)), name="object",
                      center=np.array([x, floor - r, z]), radius=r, rot=np.eye(3))

    if target is not None:
        b.add_static(_place(rng, lambda: furniture(target[[0, 2]]), b.clear_of_camera))
    for _ in range(cfg.clutter):
        b.add_static(_place(rng, furniture, b.clear_of_camera))

    def inside(centres: np.ndarray) -> bool:
        return bool(((centres[:, [0, 2]] > lo[[0, 2]] + 0.6) & (centres[:, [0, 2]] < hi[[0, 2]] - 0.6)).all())

    def walker() -> Mover:
        point, t_ref = b.view_point(2.0, 6.0, 2.0)
        if rng.random() < 0.6:
            half = np.array([rng.uniform(0.2, 0.3), rng.uniform(0.75, 0.9), rng.uniform(0.12, 0.2)])
            shape = Box(label=LABEL["person"], texture=b.texture(cell=(0.05, 0.3)), name="person",
                        center=np.zeros(3), half=half)
            speed, lift = rng.uniform(0.6, 1.4), half[1]
        else:
            r = rng.uniform(0.15, 0.4)
            shape = Sphere(label=LABEL["ball"], texture=b.texture(cell=(0.05, 0.2)), name="ball",
                           center=np.zeros(3), radius=r)
            speed, lift = rng.uniform(0.5, 2.0), r
        point[1] = floor - lift
        return Mover(shape, point, speed * b.heading(), t_ref, b.weave())

    for _ in range(cfg.dynamic_objects):
        mover = _place(rng, walker, lambda m: b.moving_clear(m, inside))
        if mover is not None:
            b.movers.append(mover)
    light, ambient, sun = b.sun((0.45, 0.6))
    summary = {"floor_y": floor, "ceiling_y": ceiling, "room_min": lo.round(4).tolist(),
               "room_max": hi.round(4).tolist()}
    return Layout(b.static, b.movers, light, ambient, sun, summary)


def build_street(cfg: SceneConfig, rng: np.random.Generator, c2w: np.ndarray, fps: float,
                 target: np.ndarray | None = None) -> Layout:
    """A street along world z: road, kerbed sidewalks, rows of buildings, poles and kiosks, a sky
    dome; cars driving in lanes and people walking on the sidewalks."""
    b = _Builder(cfg, rng, c2w, fps)
    ground = float(b.cams[:, 1].max() + rng.uniform(1.3, 1.8))
    xs = np.abs(np.concatenate([b.cams[:, 0], [target[0]] if target is not None else []]))
    road = float(max(xs.max() + rng.uniform(2.5, 4.5), 3.5))
    walk = float(rng.uniform(2.5, 4.0))
    kerb = 0.15
    z0, z1 = float(b.cams[:, 2].min() - 120), float(b.cams[:, 2].max() + 120)
    b.add_static(_axis_plane("road", b.texture(("noise", "tiles"), cell=(0.1, 0.5)), 1, ground, "road"))
    b.add_static(SkyDome(label=LABEL["background"], name="sky", center=b.cams.mean(0), radius=400.0, rot=np.eye(3),
                         texture=replace(random_texture(rng, ("noise",), 1.0, cfg.texture_contrast, (20.0, 60.0)),
                                         colours=np.array([[0.45, 0.62, 0.9], [0.85, 0.9, 0.97], [0.3, 0.5, 0.85]]))))
    for side in (-1, 1):
        inner, outer = side * road, side * (road + walk)
        b.add_static(_box("sidewalk", b.texture(("tiles", "bricks", "checker"), cell=(0.2, 0.5)),
                          [min(inner, outer), ground - kerb, z0], [max(inner, outer), ground, z1], name="sidewalk"))
        z = z0
        while z < z1:
            length, depth, height = rng.uniform(8, 20), rng.uniform(8, 14), rng.uniform(5, 25)
            front, back = outer, outer + side * depth
            b.add_static(_box("building", b.texture(cell=(0.3, 1.5)), [min(front, back), ground - height, z],
                              [max(front, back), ground, z + length], name="building"))
            z += length + rng.uniform(0.0, 3.0)

    def street_furniture() -> Primitive:
        side = rng.choice([-1, 1])
        z = rng.uniform(b.cams[:, 2].min() - 10, b.cams[:, 2].max() + 40)
        if rng.random() < 0.6:
            x, height, half = side * (road + 0.4), rng.uniform(3, 6), rng.uniform(0.06, 0.15)
            return _box("pole", b.texture(cell=(0.05, 0.2)), [x - half, ground - kerb - height, z - half],
                        [x + half, ground - kerb, z + half], name="pole")
        x, half = side * (road + rng.uniform(0.8, walk - 0.6)), rng.uniform([0.3, 0.4, 0.3], [0.7, 1.2, 0.9])
        return _box("furniture", b.texture(cell=(0.08, 0.4)), [x - half[0], ground - kerb - 2 * half[1], z - half[2]],
                    [x + half[0], ground - kerb, z + half[2]], rng.uniform(-0.3, 0.3), name="kiosk")

    for _ in range(cfg.clutter):
        b.add_static(_place(rng, street_furniture, b.clear_of_camera))

    def traffic() -> Mover:
        point, t_ref = b.view_point(4.0, 15.0, 3.0)
        direction = np.array([0.0, 0.0, rng.choice([-1.0, 1.0])])
        if rng.random() < 0.55:
            half = np.array([rng.uniform(0.8, 1.0), rng.uniform(0.65, 0.85), rng.uniform(1.9, 2.5)])
            point[0] = rng.choice([-1, 1]) * rng.uniform(half[0] + 0.2, road - half[0] - 0.2)
            point[1] = ground - half[1]
            shape = Box(label=LABEL["car"], texture=b.texture(cell=(0.1, 0.5)), name="car",
                        center=np.zeros(3), half=half)
            return Mover(shape, point, rng.uniform(3.0, 9.0) * direction, t_ref)
        half = np.array([rng.uniform(0.2, 0.3), rng.uniform(0.75, 0.9), rng.uniform(0.12, 0.2)])
        point[0] = rng.choice([-1, 1]) * (road + rng.uniform(0.5, walk - 0.5))
        point[1] = ground - kerb - half[1]
        shape = Box(label=LABEL["person"], texture=b.texture(cell=(0.05, 0.3)), name="person",
                    center=np.zeros(3), half=half)
        return Mover(shape, point, rng.uniform(0.8, 1.6) * direction, t_ref, (0.2, 1.0, rng.uniform(0, 6.3)))

    for _ in range(cfg.dynamic_objects):
        mover = _place(rng, traffic, b.moving_clear)
        if mover is not None:
            b.movers.append(mover)
    light, ambient, sun = b.sun((0.35, 0.5))
    summary = {"ground_y": ground, "road_half_width": road, "sidewalk_width": walk, "kerb": kerb}
    return Layout(b.static, b.movers, light, ambient, sun, summary)


BUILDERS = {"room": build_room, "street": build_street}


def describe(layout: Layout) -> list[dict]:
    """JSON-ready list of every static object (except planes and sky) and every mover at its anchor time."""
    items = [_describe(p) for p in layout.static if isinstance(p, (Box, Sphere)) and not isinstance(p, SkyDome)]
    items += [_describe(m.at(m.t_ref), dynamic=True) for m in layout.movers]
    return items
