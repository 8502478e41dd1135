"""Procedural, non-repeating surface textures evaluated at surface coordinates in metres.

Every pattern (cells, stripes, bricks) gets a per-cell random colour and multi-scale value noise on
top, so SIFT finds many distinct features and no two places look alike. Detail finer than about two
pixels is faded to its mean using the pixel footprint ``fw`` (metres per pixel at the hit point):
one ray per pixel then neither aliases nor flickers between frames.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from aether.annotate.synthetic.config import TEXTURE_KINDS

_MASK = 0xFFFFFFFF


def hash2(ix: np.ndarray, iy: np.ndarray, seed: int | np.ndarray) -> np.ndarray:
    """Uniform ``[0, 1)`` value per integer lattice point ``(ix, iy)`` (any shape), fixed by ``seed``
    (a scalar or an array broadcasting with ``ix``)."""
    h = (np.asarray(ix, np.int64) * 374761393 + np.asarray(iy, np.int64) * 668265263
         + np.asarray(seed, np.int64) * 1442695041) & _MASK
    h = ((h ^ (h >> 13)) * 1274126177) & _MASK
    return (h ^ (h >> 16)).astype(np.float64) / 2.0 ** 32


def value_noise(u: np.ndarray, v: np.ndarray, seed: int | np.ndarray) -> np.ndarray:
    """Smooth value noise in ``[0, 1]`` with unit lattice spacing, same shape as ``u``."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    iu, iv = iu.astype(np.int64), iv.astype(np.int64)
    a, b = hash2(iu, iv, seed), hash2(iu + 1, iv, seed)
    c, d = hash2(iu, iv + 1, seed), hash2(iu + 1, iv + 1, seed)
    return (a + (b - a) * fu) * (1 - fv) + (c + (d - c) * fu) * fv


def detail_fade(wavelength: float | np.ndarray, fw: np.ndarray) -> np.ndarray:
    """1 where a feature of ``wavelength`` spans more than 4 pixels, 0 below 2 pixels."""
    return np.clip(wavelength / np.maximum(fw, 1e-9) / 2.0 - 1.0, 0.0, 1.0)


def fbm(u: np.ndarray, v: np.ndarray, fw: np.ndarray, seed: int | np.ndarray, wavelength: float,
        octaves: int) -> np.ndarray:
    """Fractal value noise in about ``[-0.5, 0.5]``: ``octaves`` halvings of ``wavelength`` (metres),
    each octave faded out where it is finer than the pixel footprint ``fw``."""
    total = np.zeros_like(u)
    norm, amp = 0.0, 1.0
    for octave in range(octaves):
        wl = wavelength / 2 ** octave
        total += amp * detail_fade(wl, fw) * (value_noise(u / wl, v / wl, seed + 101 * octave) - 0.5)
        norm += amp
        amp *= 0.6
    return total / norm * 2.0


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t[..., None]


@dataclass(frozen=True)
class Texture:
    """A procedural albedo: ``kind`` pattern of ``cell`` metres in ``colours (3, 3)`` (RGB in [0, 1]),
    with noise detail down to ``detail`` metres; ``contrast`` 0 gives the flat mean colour."""

    kind: str
    colours: np.ndarray
    cell: float
    detail: float
    contrast: float
    seed: int

    def __call__(self, uv: np.ndarray, fw: np.ndarray, face: np.ndarray | int = 0) -> np.ndarray:
        """Albedo ``(N, 3)`` at surface coordinates ``uv (N, 2)`` metres with footprint ``fw (N,)``;
        ``face`` (scalar or ``(N,)``) varies the pattern between the faces of one object."""
        face = np.broadcast_to(np.asarray(face, np.int64), fw.shape)
        seed = self.seed + 7919 * face
        # Shift each face's pattern so neighbouring faces do not line up.
        u, v = uv[:, 0] + 97.3 * face, uv[:, 1] + 41.7 * face
        albedo = getattr(self, f"_{self.kind}")(u, v, fw, seed)
        albedo *= (1.0 + 0.5 * fbm(u, v, fw, seed + 13, self.detail * 8, 4))[:, None]
        mean = self.colours.mean(0)
        return np.clip(mean + self.contrast * (albedo - mean), 0.0, 1.0)

    # Each pattern maps (u, v, fw, seed) of N points to an albedo (N, 3).
    def _cells(self, iu, iv, fw, size, seed):
        """A random colour per integer cell; fades to the mean where cells shrink under ~2 px."""
        c0, c1, c2 = self.colours
        colour = _lerp(_lerp(c0, c1, hash2(iu, iv, seed)), c2, 0.6 * hash2(iu, iv, seed + 1))
        return _lerp(self.colours.mean(0), colour, detail_fade(size, fw))

    def _noise(self, u, v, fw, seed):
        c0, c1, c2 = self.colours
        a = np.clip(fbm(u, v, fw, seed, self.cell * 2, 5) + 0.5, 0, 1)
        b = np.clip(fbm(u, v, fw, seed + 5, self.cell, 4) + 0.5, 0, 1)
        return _lerp(_lerp(c0, c1, a), c2, 0.7 * b)

    def _checker(self, u, v, fw, seed):
        return self._cells(np.floor(u / self.cell), np.floor(v / self.cell), fw, self.cell, seed)

    def _stripes(self, u, v, fw, seed):
        angle = hash2(seed, 3, 0) * np.pi
        w = u * np.cos(angle) + v * np.sin(angle)
        return self._cells(np.floor(w / (0.5 * self.cell)), 0, fw, 0.5 * self.cell, seed)

    def _grid(self, u, v, fw, seed, width, height, shift):
        row = np.floor(v / height)
        u = u + shift * width * (row % 2)
        col = np.floor(u / width)
        colour = self._cells(col, row, fw, height, seed)
        # Mortar/grout lines, softened over one footprint so they do not alias.
        edge = np.minimum(np.minimum(u - col * width, (col + 1) * width - u),
                          np.minimum(v - row * height, (row + 1) * height - v))
        grout = 1.0 - np.clip((edge - 0.06 * height) / np.maximum(fw, 1e-9) + 0.5, 0.0, 1.0)
        return _lerp(colour, 0.35 * self.colours.mean(0), grout * detail_fade(height, fw))

    def _bricks(self, u, v, fw, seed):
        return self._grid(u, v, fw, seed, 2.0 * self.cell, self.cell, 0.5)

    def _tiles(self, u, v, fw, seed):
        return self._grid(u, v, fw, seed, self.cell, self.cell, 0.0)


def random_colours(rng: np.random.Generator) -> np.ndarray:
    """Three related but distinct RGB colours ``(3, 3)`` in ``[0, 1]``."""
    hue = rng.random()
    colours = [colorsys.hsv_to_rgb((hue + rng.normal(0, 0.12)) % 1.0, rng.uniform(0.15, 0.8), rng.uniform(0.3, 0.95))
               for _ in range(3)]
    return np.asarray(colours, np.float64)


def random_texture(rng: np.random.Generator, kinds: tuple[str, ...] = TEXTURE_KINDS, scale: float = 1.0,
                   contrast: float = 1.0, cell: tuple[float, float] = (0.15, 0.8)) -> Texture:
    """A texture of a random ``kind`` among ``kinds`` with cells in ``cell`` metres times ``scale``."""
    kind = str(kinds[rng.integers(len(kinds))])
    size = float(np.exp(rng.uniform(*np.log(cell)))) * scale
    return Texture(kind=kind, colours=random_colours(rng), cell=size, detail=size / 4, contrast=contrast,
                   seed=int(rng.integers(2 ** 30)))
