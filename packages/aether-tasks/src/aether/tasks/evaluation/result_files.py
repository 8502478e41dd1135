"""Finding one file of what ``aether reconstruct`` writes (see :mod:`aether.tasks.outputs`) from
the output folder or its manifest ``{name}.json``, whose ``files`` maps keys to relative paths."""

from __future__ import annotations

import json
from pathlib import Path

from aether.tasks.evaluation.errors import MetricInputError


def _listed(manifest: Path, key: str) -> Path | None:
    try:
        files = json.loads(manifest.read_text()).get("files")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    if not isinstance(files, dict) or key not in files:
        return None
    if not isinstance(files[key], str) or not files[key]:
        raise MetricInputError(f"{manifest}: 'files' lists {key!r} as {files[key]!r}, not a file name; the manifest "
                               "is damaged, write the outputs again with aether reconstruct")
    return manifest.parent / files[key]


def result_file(path: Path, key: str) -> Path | None:
    """The file ``key`` (``"depth"``, ``"trajectory_tum"``, ...) listed by the manifest ``path`` or by
    the one manifest in folder ``path``; None when ``path`` is neither."""
    if path.is_file():
        return _listed(path, key) if path.suffix == ".json" else None
    found = [f for f in (_listed(m, key) for m in sorted(path.glob("*.json"))) if f is not None]
    if len(found) > 1:
        raise MetricInputError(f"{path} holds {len(found)} aether output manifests listing {key!r}; "
                               "pass the one manifest (.json) to use")
    return found[0] if found else None
