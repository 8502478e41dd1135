"""Multi-task condition sampling (docs/FORMATS.md#tasks): per example, a colour-condition masking drawn with
its share (planning 30 %, prediction 40 %, reconstruction 28 %, unconditional 2 % by default:
the registered maskings' ``train_probability``) and the action kept or zeroed (50 / 50).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from aether.core.interfaces import TaskMasking
from aether.core.registry import Registry, default_registry
from aether.tasks.maskings import build_condition
from aether.train.config import TasksConfig


@dataclass(frozen=True)
class TaskDraw:
    """One example's task: the masking's name and whether its action condition is kept."""

    task: str
    keep_action: bool


class TaskSampler:
    """Draws :class:`TaskDraw` from the registered maskings with the configured shares."""

    def __init__(self, config: TasksConfig, registry: Registry | None = None) -> None:
        registry = registry or default_registry()
        names = sorted(config.probabilities or registry.names("task_masking"))
        self.maskings: dict[str, TaskMasking] = {n: registry.build("task_masking", n) for n in names}
        shares = np.array([config.probabilities[n] if config.probabilities else self.maskings[n].train_probability
                           for n in names], dtype=np.float64)
        self.names, self.shares = names, shares / shares.sum()
        self.action_keep = config.action_keep

    def draw(self, rng: np.random.Generator) -> TaskDraw:
        """One example's task from its condition stream ``rng``."""
        task = self.names[int(rng.choice(len(self.names), p=self.shares))]
        return TaskDraw(task, bool(rng.random() < self.action_keep))

    def condition(self, draws: list[TaskDraw], observed: list[torch.Tensor | None],
                  action: torch.Tensor) -> torch.Tensor:
        """The model condition ``(B, T, 40, h, w)`` of a batch: per example, its masking's observed colour
        latents ``observed[i] (1, K, 16, h, w)`` (see :func:`aether.train.latents.observed`) and its action
        ``action[i] (T, 24, h, w)`` or zeros."""
        rows = [build_condition(self.maskings[draw.task], observed[i], action.shape[1],
                                action[i:i + 1] if draw.keep_action else None,
                                latent_shape=(1, *action.shape[-2:])).to(action)
                for i, draw in enumerate(draws)]
        return torch.cat(rows)
