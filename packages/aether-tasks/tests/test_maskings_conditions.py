"""Task maskings: condition channel layouts, CFG unconditional rules, defaults (docs/FORMATS.md#tasks,
#tensor-layout)."""

import pytest
import torch

from aether.core.registry import default_registry
from aether.tasks.maskings import MaskingError, build_condition

T, H, W = 4, 2, 3


def masking(name):
    return default_registry().build("task_masking", name)


def latents(frames, channels, offset=0.0):
    """Distinct values per (frame, channel) so a misplaced frame or channel shows."""
    values = torch.arange(frames * channels, dtype=torch.float32).view(1, frames, channels, 1, 1) + offset
    return values.expand(1, frames, channels, H, W).clone()


def test_plugins_defaults_and_training_shares():
    names = default_registry().names("task_masking")
    assert names == ["planning", "prediction", "reconstruction", "unconditional"]
    defaults = {n: (m.default_steps, m.default_guidance, m.dynamic_cfg)
                for n, m in ((n, masking(n)) for n in names)}
    assert defaults["reconstruction"] == (4, 1.0, False)
    assert defaults["prediction"] == defaults["planning"] == (50, 3.0, True)
    shares = {n: masking(n).train_probability for n in names}
    assert shares == {"planning": 0.30, "prediction": 0.40, "reconstruction": 0.28, "unconditional": 0.02}


@pytest.mark.parametrize("name, kept", [("reconstruction", [0, 1, 2, 3]), ("prediction", [0]),
                                        ("planning", [0, 3]), ("unconditional", [])])
def test_colour_condition_sits_on_kept_frames_and_action_on_16_to_40(name, kept):
    observed = latents(len(kept), 16, offset=1000.0) if kept else None
    action = latents(T, 24, offset=5000.0)
    cond = build_condition(masking(name), observed, T, action, latent_shape=(1, H, W))
    assert cond.shape == (1, T, 40, H, W)
    for i in range(T):
        if i in kept:  # the k-th observed frame lands on the k-th kept latent frame, channels 0:16
            torch.testing.assert_close(cond[0, i, :16], observed[0, kept.index(i)])
        else:
            assert cond[0, i, :16].abs().max() == 0
    torch.testing.assert_close(cond[:, :, 16:], action)
    # hand-checked single values: action channel 16 of frame 1 is the 24 * 1 + 0 -th value
    assert cond[0, 1, 16, 0, 0] == 5000.0 + 24
    no_action = build_condition(masking(name), observed, T, None, latent_shape=(1, H, W))
    assert no_action[:, :, 16:].abs().max() == 0


def test_condition_rejects_wrong_observed_count_and_action_shape():
    with pytest.raises(MaskingError, match="planning task needs 2 observed"):
        build_condition(masking("planning"), latents(1, 16), T)
    with pytest.raises(MaskingError, match="action condition must be"):
        build_condition(masking("prediction"), latents(1, 16), T, latents(T - 1, 24))
    with pytest.raises(MaskingError, match="at least 2 latent frames"):
        build_condition(masking("prediction"), latents(1, 16), 1)


def test_cfg_unconditional_rules():
    full = latents(T, 40, offset=1.0)  # every colour frame non-zero, to see what is dropped
    pred = masking("prediction").unconditional(full)
    assert pred[0, 0, :16].abs().max() == 0                          # first frame's colour dropped
    torch.testing.assert_close(pred[:, 1:, :16], full[:, 1:, :16])   # later frames untouched
    torch.testing.assert_close(pred[:, :, 16:], full[:, :, 16:])     # action kept
    plan = masking("planning").unconditional(full)
    assert plan[:, :, :16].abs().max() == 0                          # every colour frame dropped
    torch.testing.assert_close(plan[:, :, 16:], full[:, :, 16:])
    assert full[0, 0, 0, 0, 0] == 1.0                                # input not modified in place
    torch.testing.assert_close(masking("unconditional").unconditional(full), full)
