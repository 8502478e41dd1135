"""Deterministic shares of a dataset: ``--shard K/N`` lets N array jobs of a cluster scheduler (Slurm or any
other) split a folder of clips with no coordination."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Shard(BaseModel):
    """Shard ``index`` (0-based) of ``count``. A clip belongs to the shard its file name hashes to, so its shard
    does not depend on which other clips a job lists (clips added meanwhile do not move the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> "Shard":
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below the shard count {self.count} (0-based)")
        return self

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"K/N"`` as a shard; raises ``ValueError`` for anything else."""
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"shard {text!r} is not K/N (for example 0/4; K counts from 0)")
        return cls(index=int(index), count=int(count))

    def holds(self, name: str) -> bool:
        """Whether the clip named ``name`` is in this shard."""
        return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % self.count == self.index
