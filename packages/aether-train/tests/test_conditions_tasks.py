"""Multi-task condition sampling: the registered maskings' shares, action kept half the time,
each masking's colour frames in the condition, all seeded per example."""

from __future__ import annotations

import numpy as np
import torch
from aether.train.conditions import TaskDraw, TaskSampler
from aether.train.config import TasksConfig


def test_default_shares_are_the_registered_train_probabilities():
    sampler = TaskSampler(TasksConfig())
    draws = [sampler.draw(np.random.default_rng([0, i])) for i in range(20000)]
    share = {name: np.mean([d.task == name for d in draws]) for name in sampler.names}
    expected = {"planning": 0.30, "prediction": 0.40, "reconstruction": 0.28, "unconditional": 0.02}
    assert all(abs(share[k] - v) < 0.015 for k, v in expected.items()), share
    assert abs(np.mean([d.keep_action for d in draws]) - 0.5) < 0.015
    again = [sampler.draw(np.random.default_rng([0, i])) for i in range(100)]
    assert again == draws[:100]


def test_configured_shares_replace_the_defaults():
    sampler = TaskSampler(TasksConfig(probabilities={"prediction": 1.0}, action_keep=0.0))
    assert {sampler.draw(np.random.default_rng(i)) for i in range(50)} == {TaskDraw("prediction", False)}


def test_condition_holds_each_tasks_observed_latents_and_the_action():
    sampler = TaskSampler(TasksConfig())
    action = torch.randn(4, 3, 24, 4, 6)
    observed = [torch.randn(1, 3, 16, 4, 6), torch.randn(1, 1, 16, 4, 6), torch.randn(1, 2, 16, 4, 6), None]
    draws = [TaskDraw("reconstruction", True), TaskDraw("prediction", False),
             TaskDraw("planning", True), TaskDraw("unconditional", False)]
    cond = sampler.condition(draws, observed, action)
    assert cond.shape == (4, 3, 40, 4, 6)
    kept = [(cond[i, :, :16].flatten(1).abs().sum(1) > 0).tolist() for i in range(4)]
    assert kept == [[True] * 3, [True, False, False], [True, False, True], [False] * 3]
    assert torch.equal(cond[0, :, :16], observed[0][0]) and torch.equal(cond[1, 0, :16], observed[1][0, 0])
    assert torch.equal(cond[2, 0, :16], observed[2][0, 0]) and torch.equal(cond[2, 2, :16], observed[2][0, 1])
    assert torch.equal(cond[0, :, 16:], action[0]) and not cond[1, :, 16:].any()


def test_maskings_observe_what_inference_encodes():
    """Reconstruction reads the whole clip's encoding; prediction the first frame alone; planning the first
    and the last frame alone (the observation and goal images); unconditional nothing."""
    maskings = TaskSampler(TasksConfig()).maskings
    assert {name: m.observed_frames(41) for name, m in maskings.items()} == {
        "reconstruction": None, "prediction": [0], "planning": [0, 40], "unconditional": []}
    assert maskings["planning"].observed_frames(9) == [0, 8]
