"""The example third-party plugin is found through its entry point alone and works by name."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from scipy.spatial.transform import Rotation

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "aether-action-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install the example into a private target dir (no change to the shared environment)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(EXAMPLE)], check=True)
    return target


def _aether(site: Path, *args: str) -> subprocess.CompletedProcess:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from aether.core.cli import main; "
            "sys.exit(main(sys.argv[2:]))")
    return subprocess.run([sys.executable, "-c", code, str(site), *args], capture_output=True, text=True)


def test_cli_lists_the_third_party_plugin(installed):
    out = _aether(installed, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {"kind": "action_encoder", "name": "plucker", "distribution": "aether-action-example",
            "version": "0.1.0"} in rows


def test_plugin_is_usable_by_name_and_round_trips(installed):
    sys.path.insert(0, str(installed))
    try:
        from aether.core.registry import Registry

        encoder = Registry.from_entry_points().build("action_encoder", "plucker")
    finally:
        sys.path.remove(str(installed))
    F, H, W = 5, 48, 64
    rot = Rotation.from_euler("xyz", torch.linspace(0, 0.6, F)[:, None].repeat(1, 3).numpy())
    c2w = torch.eye(4, dtype=torch.float64).repeat(1, F, 1, 1)
    c2w[0, :, :3, :3] = torch.from_numpy(rot.as_matrix())
    c2w[0, :, :3, 3] = torch.linspace(0, 1, F)[:, None] * torch.tensor([0.3, -0.1, 1.0])
    K = torch.tensor([[50.0, 0, 30.0], [0, 55.0, 26.0], [0, 0, 1]], dtype=torch.float64).repeat(1, F, 1, 1)
    action = encoder.encode(c2w, K, H, W)
    assert action.shape == (1, 2, 24, H // 8, W // 8)
    c2w_back, K_back = encoder.decode(action, H, W)
    torch.testing.assert_close(c2w_back, c2w, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(K_back, K, atol=1e-6, rtol=1e-6)


def test_stage_2_training_refuses_to_read_plucker_channels_as_a_raymap(installed, tmp_path):
    """The pointmap loss reads the action channels as a raymap; Plücker moments are not ray origins, so
    stage 2 with the example encoder stops in one line before any work (and reading a --raymap is refused)."""
    from aether.annotate.synthetic.config import RenderConfig
    from aether.annotate.synthetic.writer import write_clips
    from aether.core.errors import ActionLayoutError

    write_clips(tmp_path / "clips", 1, seed=0, render=RenderConfig(height=32, width=48, frames=9, fps=12.0),
                progress=False)
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({
        "out": str(tmp_path / "run"), "steps": 2, "progress": False, "eval_examples": 0,
        "data": {"clips": [str(tmp_path / "clips")], "frames": [9], "fps": [12], "height": 32, "width": 48},
        "model": {"init": "tiny", "video_codec": "pixel", "action_encoder": "plucker", "tiny": {"num_layers": 1}},
        "loss": {"stage": 2}}))  # JSON is YAML
    out = _aether(installed, "train", str(config))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines == ["error: loss.pointmap: the PluckerEncoder action encoder's channels hold no AETHER raymap "
                     "(ray directions and origins); set loss.pointmap: 0 to train stage 2 without the pointmap loss, "
                     "or use an action encoder that holds one"], lines
    assert not (tmp_path / "run" / "checkpoints").exists()

    sys.path.insert(0, str(installed))
    try:
        from aether.core.registry import Registry

        encoder = Registry.from_entry_points().build("action_encoder", "plucker")
    finally:
        sys.path.remove(str(installed))
    with pytest.raises(ActionLayoutError, match="does not read raymaps"):
        encoder.from_raymap(torch.zeros(1, 9, 6, 4, 6))
