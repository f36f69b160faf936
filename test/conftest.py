"""Test-session environment for rman_ros.

ROS 2 settings are fixed here, before any test module imports rclpy:
  * ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST keeps DDS discovery on loopback (required on this machine);
  * a random ROS_DOMAIN_ID keeps concurrent test runs from seeing each other's topics.
Child processes started by tests inherit both through os.environ.
"""

import os
import random
from pathlib import Path

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
# The same malloc tuning the tracker applies to itself, for tracker subprocesses (docs: PERF.md).
os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Real benchmark data: $RMAN_DATA_DIR, else ../shared/data next to the repository."""
    env = os.environ.get("RMAN_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "otb").is_dir():
        pytest.skip(f"real sequences not found at {path} (set RMAN_DATA_DIR to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def otb_dir(data_dir: Path) -> Path:
    return data_dir / "otb"


@pytest.fixture(params=["fp32", "native"])
def arithmetic(request, monkeypatch):
    """Runs a real-frame tracking test twice: on the float32 path (RMAN_DISABLE_BF16=1, what a CPU without
    bf16 runs) and on this CPU's native path. The second is skipped where it is the same path, so a CPU
    without bf16 runs each such test once and a bf16 CPU covers both."""
    from rman_ros.core.runtime import DISABLE_BF16_ENV, cpu_has_bf16

    if request.param == "fp32":
        monkeypatch.setenv(DISABLE_BF16_ENV, "1")
    elif not cpu_has_bf16():
        pytest.skip("no bf16 on this CPU (or RMAN_DISABLE_BF16=1): its native path is the float32 one")
    return request.param
