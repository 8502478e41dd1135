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


def test_condition_holds_each_tasks_colour_frames_and_the_action():
    sampler = TaskSampler(TasksConfig())
    colour, action = torch.randn(4, 3, 16, 4, 6), torch.randn(4, 3, 24, 4, 6)
    draws = [TaskDraw("reconstruction", True), TaskDraw("prediction", False),
             TaskDraw("planning", True), TaskDraw("unconditional", False)]
    cond = sampler.condition(draws, colour, action)
    assert cond.shape == (4, 3, 40, 4, 6)
    kept = [(cond[i, :, :16].flatten(1).abs().sum(1) > 0).tolist() for i in range(4)]
    assert kept == [[True] * 3, [True, False, False], [True, False, True], [False] * 3]
    assert torch.equal(cond[0, :, :16], colour[0]) and torch.equal(cond[2, 2, :16], colour[2, 2])
    assert torch.equal(cond[0, :, 16:], action[0]) and not cond[1, :, 16:].any()
