"""`python -m rman_ros.bag play|score` against a running node subprocess (synthetic sequence)."""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

from test_node_support import FAST_TRACKER, synthetic_frame  # noqa: E402

from rman_ros.bag import launcher  # noqa: E402
from rman_ros.bag.record import write_bag  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N = 12
NS = f"cli_{random.randint(0, 1 << 30)}"  # private: parallel test runs may share the ROS domain


@pytest.fixture(scope="module")
def node_and_bag(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    frames, gt = zip(*(synthetic_frame(i) for i in range(N)))
    bag = tmp / "synth_bag"
    write_bag(bag, frames, gt[0], np.array(gt), fps=15)
    params = {f"tracker.{k}": v for k, v in FAST_TRACKER.items()}
    params.update({"device": "cpu", "reliability": "reliable"})
    proc = launcher.start_node(log_path=tmp / "node.log", params=params, namespace=NS)
    yield proc, bag, tmp
    launcher.stop_node(proc)


def _cli(*args, timeout=180):
    r = subprocess.run([sys.executable, "-m", "rman_ros.bag", *args], capture_output=True, text=True,
                       timeout=timeout, cwd=REPO, env=launcher.node_env())
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_play_lockstep_cli(node_and_bag):
    proc, bag, tmp = node_and_bag
    out = json.loads(_cli("play", str(bag), "--lockstep", "--namespace", NS).strip().splitlines()[-1])
    assert out == {"frames": N, "with_output": N, "wall_s": out["wall_s"]}


def test_score_cli_against_running_node(node_and_bag):
    proc, bag, tmp = node_and_bag
    text = _cli("score", str(bag), "--no-start-node", "--namespace", NS, "--out", str(tmp / "score"))
    summary = json.loads(text[text.index("{"):])
    assert summary["frames_with_output"] == N and summary["frames"] == N
    assert 0.0 <= summary["auc"] <= 1.0
    boxes = (tmp / "score" / "boxes.txt").read_text().splitlines()
    assert len(boxes) == N and boxes[0] == "20.00,30.00,30.00,24.00"  # frame 0 = the init box
    assert proc.poll() is None  # the node keeps running across clients


def test_record_sequence_cli_reports_user_errors_without_traceback(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "rman_ros.bag", "record-sequence", "/nonexistent/sequence",
                           str(tmp_path / "bag")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "sequence folder not found" in proc.stderr and "Traceback" not in proc.stderr
