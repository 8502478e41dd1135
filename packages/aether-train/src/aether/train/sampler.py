"""Deterministic, resumable sampling: every random choice of an example is a function of
``(seed, step, slot)``, so a run resumed at step ``s`` sees exactly the examples (and noise) the
uninterrupted run saw, on any number of processes.

A *slot* is an example's index in the global batch of one optimizer step
(``world * micro_batch * grad_accum`` slots). Micro-batch ``a`` of rank ``r`` holds slots
``a * world * micro + r * micro + i``, so one process with the same global batch holds the same
examples in each optimizer step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

# independent random streams of one example
WINDOW, CONDITION, DIFFUSION, POSTERIOR = 0, 1, 2, 3


def example_rng(seed: int, step: int, slot: int, stream: int) -> np.random.Generator:
    """The generator of one example's ``stream`` (window, condition or diffusion draws)."""
    return np.random.default_rng([seed, step, slot, stream])


def posterior_seeds(seed: int, step: int, slot: int) -> tuple[int, int]:
    """Seeds of an example's two codec-posterior generators: its colour condition's (a pipeline pass with
    this seed draws the same condition) and its targets'."""
    rng = example_rng(seed, step, slot, POSTERIOR)
    return int(rng.integers(2**62)), int(rng.integers(2**62))


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of choices shared by a whole step (the frame count of its batch)."""
    return np.random.default_rng([seed, step])


def clip_for(seed: int, step: int, slot: int, global_batch: int, num_clips: int) -> int:
    """The clip of an example: epochs walk a fresh permutation of the clips each."""
    position = step * global_batch + slot
    epoch, index = divmod(position, num_clips)
    return int(np.random.default_rng([seed, epoch, 2**31]).permutation(num_clips)[index])


@dataclass(frozen=True)
class StepBatches(Sampler):
    """Yields each micro-batch's ``[(step, slot), ...]`` from ``start`` up to ``steps`` for one rank."""

    start: int
    steps: int
    micro_batch: int
    grad_accum: int = 1
    rank: int = 0
    world: int = 1

    @property
    def global_batch(self) -> int:
        return self.micro_batch * self.grad_accum * self.world

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.steps):
            for accum in range(self.grad_accum):
                first = (accum * self.world + self.rank) * self.micro_batch
                yield [(step, first + i) for i in range(self.micro_batch)]

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.grad_accum
