"""Listing plugins and building the parser import nothing heavy: ``--help``, ``aether plugins`` and
argument errors answer without torch."""

import subprocess
import sys

import pytest

_PROBE = """
import sys
from aether.core.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("HEAVY:", ",".join(m for m in ("torch", "scipy", "diffusers") if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["reconstruct"], ["eval", "pose", "--help"]])
def test_the_cli_answers_without_importing_torch(args):
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True)
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY:")]
    assert heavy == ["HEAVY: "], (out.stdout[-2000:], out.stderr[-2000:])
