"""Synthetic 4D clips with exact ground truth: procedural rooms and streets, smooth camera motion and
moving objects of dynamic classes, ray cast to RGB, metric depth, class labels, K and c2w."""

from aether.annotate.synthetic.config import RenderConfig, SceneConfig, SynthError
from aether.annotate.synthetic.render import render_clip
from aether.annotate.synthetic.scenes import CLASSES, DYNAMIC_CLASSES
from aether.annotate.synthetic.writer import scene_for, write_clips

__all__ = ["CLASSES", "DYNAMIC_CLASSES", "RenderConfig", "SceneConfig", "SynthError", "render_clip", "scene_for",
           "write_clips"]
