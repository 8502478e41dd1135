"""`aether model embed-prompt` without transformers names the extra that installs it."""

import sys

import pytest

from aether.core.errors import CheckpointError
from aether.core.model_commands import compute_empty_prompt_embeds


def test_embedding_without_transformers_names_the_t5_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    with pytest.raises(CheckpointError, match=r"pip install 'aether-core\[t5\]'"):
        compute_empty_prompt_embeds(tmp_path, 226)
