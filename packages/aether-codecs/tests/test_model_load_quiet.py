"""Loading a model folder prints nothing about accelerate: diffusers warns on every ``from_pretrained`` that
it found no ``accelerate`` (and then initialises every weight randomly before loading it), so aether-core and
aether-codecs depend on it."""

import subprocess
import sys

from aether.core.testing.tiny_model import write_tiny_model

# The transformer through ModelFolder, the VAE through the codec plugin the folder names, and the scheduler.
LOAD = """
import sys, torch
from aether.core.model_folder import ModelFolder
from aether.core.registry import Registry
folder = ModelFolder(sys.argv[1])
folder.load_backbone()
codec = folder.build_video_codec(Registry.from_entry_points(), torch.float32, torch.device("cpu"))
folder.load_scheduler()
print(type(codec).__name__)
"""


def test_loading_the_tiny_model_folder_warns_about_nothing(tmp_path):
    folder = write_tiny_model(tmp_path / "model")
    out = subprocess.run([sys.executable, "-c", LOAD, str(folder)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CogVideoXCodec"  # the VAE was loaded, not skipped
    assert "accelerate" not in out.stderr and "low_cpu_mem_usage" not in out.stderr, out.stderr
