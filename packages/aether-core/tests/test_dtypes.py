"""One dtype vocabulary: fp32, bf16, fp16 (diffusers' long names accepted as aliases)."""

import pytest
import torch

from aether.core.dtypes import DTYPES, DtypeError, dtype_name, torch_dtype
from aether.core.registry import default_registry


def test_short_names_and_aliases_map_to_torch():
    assert DTYPES == ("fp32", "bf16", "fp16")
    for short, long, expected in [("fp32", "float32", torch.float32), ("bf16", "bfloat16", torch.bfloat16),
                                  ("fp16", "float16", torch.float16)]:
        assert dtype_name(long) == dtype_name(short) == short
        assert torch_dtype(short) is torch_dtype(long) is torch_dtype(expected) is expected


@pytest.mark.parametrize("bad", ["float64", "fp8", torch.float64])
def test_other_dtypes_are_refused(bad):
    with pytest.raises(DtypeError, match="use one of fp32, bf16, fp16"):
        torch_dtype(bad)


def test_model_init_offers_the_short_names(capsys):
    from aether.core.cli import main

    with pytest.raises(SystemExit):
        main(["model", "init-from-cogvideox", "--help"])
    assert "{fp32,bf16,fp16}" in capsys.readouterr().out


def test_the_backbone_builder_takes_the_short_names(tmp_path):
    from aether.core.backbone import AetherBackbone

    AetherBackbone.tiny().transformer.save_pretrained(tmp_path / "transformer")
    backbone = default_registry().build("backbone", "cogvideox", path=tmp_path / "transformer", dtype="bf16")
    assert next(backbone.parameters()).dtype == torch.bfloat16
