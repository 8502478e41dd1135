"""Validated settings of the synthetic clip source: what the scene holds and how it is rendered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aether.core.errors import AetherError

SceneKind = Literal["room", "street"]
MotionKind = Literal["forward", "turn", "orbit", "mixed"]
TextureKind = Literal["noise", "checker", "bricks", "stripes", "tiles"]
Lighting = Literal["bright", "normal", "dim", "dark"]

SCENE_KINDS: tuple[str, ...] = SceneKind.__args__
MOTION_KINDS: tuple[str, ...] = MotionKind.__args__
TEXTURE_KINDS: tuple[str, ...] = TextureKind.__args__
LIGHTINGS: tuple[str, ...] = Lighting.__args__
# Exposure of each lighting preset; "dark" gives the near-black frames the slicer must drop.
EXPOSURE = {"bright": 1.25, "normal": 1.0, "dim": 0.45, "dark": 0.06}


class SynthError(AetherError, ValueError):
    """Bad settings for the synthetic clip source."""


class SceneConfig(BaseModel):
    """What to build: scene kind, camera motion, objects, textures and light; fully determined by ``seed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, ge=0, description="every random choice (layout, textures, path) follows from it")
    kind: SceneKind = "room"
    motion: MotionKind = "mixed"
    dynamic_objects: int = Field(2, ge=0, le=16, description="moving objects of dynamic classes")
    clutter: int = Field(6, ge=0, le=40, description="static boxes/spheres/poles besides walls and buildings")
    textures: tuple[TextureKind, ...] = Field(TEXTURE_KINDS, min_length=1)
    texture_contrast: float = Field(1.0, ge=0.0, le=2.0, description="0 gives flat, textureless surfaces")
    texture_scale: float = Field(1.0, gt=0.0, le=10.0, description="multiplies every pattern's size")
    lighting: Lighting = "normal"
    motion_scale: float = Field(1.0, ge=0.0, le=5.0, description="multiplies camera speed and rotation")
    rotation_scale: float = Field(1.0, ge=0.0, le=5.0, description="multiplies how far the camera turns from its "
                                                                   "first orientation; 0: it only translates")


class RenderConfig(BaseModel):
    """How to render: image size, frame count, frame rate and intrinsics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    height: int = Field(240, ge=8, le=4096)
    width: int = Field(360, ge=8, le=4096)
    frames: int = Field(41, ge=1, le=4096)
    fps: float = Field(12.0, gt=0.0, le=240.0)
    fov_deg: float | None = Field(None, gt=10.0, lt=150.0,
                                  description="horizontal field of view; None draws one in [50, 80] per seed")
    pixel_aspect: float = Field(1.0, gt=0.2, lt=5.0, description="fy / fx: a video resized to another aspect "
                                                                  "ratio has non-square pixels")
    principal_jitter: float = Field(0.02, ge=0.0, le=0.2,
                                    description="random principal-point offset as a fraction of the image size")
