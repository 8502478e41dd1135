"""The NumPy camera and trajectory helpers run without importing torch (the annotation workers use them)."""

import subprocess
import sys

CODE = """
import sys
import numpy as np
from scipy.spatial.transform import Rotation
from aether.codecs.cameras import invert_pose, read_tum, write_tum
from aether.codecs.trajectory import pose_metrics

c2w = np.tile(np.eye(4), (5, 1, 1))
c2w[:, :3, :3] = Rotation.from_euler("xyz", np.linspace(0, 0.5, 15).reshape(5, 3)).as_matrix()
c2w[:, :3, 3] = np.arange(15.0).reshape(5, 3)
np.testing.assert_allclose(invert_pose(c2w), np.linalg.inv(c2w), atol=1e-12)
write_tum(sys.argv[1], np.arange(5.0), c2w)
np.testing.assert_allclose(read_tum(sys.argv[1])[1], c2w, atol=1e-8)
assert pose_metrics(c2w, c2w)["ate"] < 1e-9
print(sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
"""


def test_cameras_and_trajectories_on_numpy_leave_torch_unimported(tmp_path):
    out = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "poses.txt")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
