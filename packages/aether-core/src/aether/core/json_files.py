"""Reading the small JSON files users hand-edit (``meta.json``, ``config.json``): one error that names the
file, says what is wrong with it and what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aether.core.errors import AetherError


def read_json_object(path: Path, error: type[AetherError], advice: str) -> dict[str, Any]:
    """The JSON object in ``path``, or ``error`` saying it is not valid JSON or not an object, with ``advice``."""
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} is not valid JSON ({exc}); {advice}") from None
    if not isinstance(value, dict):
        raise error(f"{path} must hold a JSON object such as {{\"key\": 1}}, not a {type(value).__name__}; "
                    f"{advice}")
    return value
