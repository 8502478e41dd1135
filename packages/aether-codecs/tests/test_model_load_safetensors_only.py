"""Weights are read from .safetensors only: a folder that holds pickled ``.bin`` weights, as diffusers writes them
with ``safe_serialization=False``, is refused in one line that says so, before diffusers would unpickle them (its
weights-only unpickler refuses code with today's torch; we don't depend on that), and the pickle never runs."""

import pickle

import pytest

from aether.codecs.video import CogVideoXCodec
from aether.core.backbone import AetherBackbone
from aether.core.errors import CheckpointError
from aether.core.testing.tiny_model import tiny_transformer, tiny_vae


class _Payload:
    """Unpickled, it creates ``marker``: proof that loading ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("build, load, words", [
    (tiny_vae, CogVideoXCodec.from_pretrained, "holds no .safetensors weights; copy CogVideoX-5b-I2V's vae/"),
    (tiny_transformer, AetherBackbone.from_pretrained, "holds no .safetensors weights; copy or re-export the "
                                                        "transformer/"),
])
def test_pickled_bin_weights_are_never_loaded(build, load, words, tmp_path):
    build().save_pretrained(tmp_path / "model", safe_serialization=False)
    weights = tmp_path / "model" / "diffusion_pytorch_model.bin"
    assert weights.is_file()
    weights.write_bytes(pickle.dumps(_Payload(tmp_path / "pwned")))
    with pytest.raises(CheckpointError, match=words) as info:
        load(tmp_path / "model")
    assert "never loaded" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()
