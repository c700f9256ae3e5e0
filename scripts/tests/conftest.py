# Shared pytest fixtures: repo paths, the ported net with face-api's weights, face-api's own descriptors.
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_ROOT / "scripts"
# Tests import the package the same way scripts/*.py do, whatever venv or cwd pytest runs from.
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def faceapi_net():
    """DlibResNet with face-api's pretrained weights, in eval mode (treat as read-only)."""
    from irface_ml.dlib_resnet import DlibResNet

    return DlibResNet.from_faceapi()


@pytest.fixture(scope="session")
def faceapi_reference(tmp_path_factory) -> dict:
    """Output of scripts/faceapi_reference.mjs: face-api's descriptors for LCG images and face crops.

    Runs node once per session (about 3 s); fails, rather than skips, without node: the port's
    correctness rests on this comparison."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; it is needed to compute face-api's reference descriptors")
    out = tmp_path_factory.mktemp("faceapi") / "reference.json"
    proc = subprocess.run([node, "scripts/faceapi_reference.mjs", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"faceapi_reference.mjs exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(out.read_text())
