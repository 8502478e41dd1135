"""The trajectory alignments of :mod:`aether.codecs.trajectory`, named where nothing heavy is imported
(command builders list them as choices on every CLI start)."""

from __future__ import annotations

from typing import Literal, get_args

AlignMode = Literal["sim3", "se3", "scale", "none"]  # evo's -as, -a, -s and no alignment
ALIGN_MODES: tuple[str, ...] = get_args(AlignMode)
