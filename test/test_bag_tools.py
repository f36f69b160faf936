"""Bag tools without a node: record-sequence/record-video -> read back, typestore definitions."""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rman_ros.bag import typestore as ts
from rman_ros.bag.reader import read_bag, to_ros_image
from rman_ros.bag.record import DEFAULT_START_NS, write_bag

REPO = Path(__file__).resolve().parents[1]


def _otb_dir(tmp_path, n=6, h=48, w=64):
    import cv2

    seq = tmp_path / "Synth"
    (seq / "img").mkdir(parents=True)
    gt = []
    for i in range(n):
        img = np.full((h, w, 3), 30 + i, np.uint8)
        img[10:20, 5 + i:15 + i] = (250, 20, 20)
        cv2.imwrite(str(seq / "img" / f"{i + 1:04d}.jpg"), img[:, :, ::-1])
        gt.append(f"{6 + i},{11},{10},{10}")
    gt[3] = "NaN,NaN,NaN,NaN"
    (seq / "groundtruth_rect.txt").write_text("\n".join(gt) + "\n")
    return seq


def test_record_sequence_cli_and_read_back(tmp_path):
    seq = _otb_dir(tmp_path)
    out = tmp_path / "bag"
    r = subprocess.run([sys.executable, "-m", "rman_ros.bag", "record-sequence", str(seq), str(out),
                        "--fps", "10"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["frames"] == 6
    assert (out / "metadata.yaml").exists() and list(out.glob("*.mcap"))
    meta = (out / "metadata.yaml").read_text()
    for topic in ("/image", "/init", "/ground_truth"):
        assert f"name: {topic}" in meta
    b = read_bag(out)
    assert len(b) == 6
    assert [f.stamp_ns for f in b.frames] == [DEFAULT_START_NS + i * 100_000_000 for i in range(6)]
    assert b.init_stamp_ns == b.frames[0].stamp_ns
    np.testing.assert_allclose(b.init_box, (6, 11, 10, 10))
    assert np.isnan(b.gt[3]).all() and np.allclose(b.gt[5], (11, 11, 10, 10))
    msg = to_ros_image(b.frames[2])
    assert (msg.height, msg.width, msg.encoding, msg.step) == (48, 64, "rgb8", 192)
    assert msg.header.frame_id == "camera"


def test_write_bag_refuses_to_overwrite(tmp_path):
    frames = [np.zeros((4, 4, 3), np.uint8)]
    write_bag(tmp_path / "b", frames, (0, 0, 2, 2))
    with pytest.raises(FileExistsError):
        write_bag(tmp_path / "b", frames, (0, 0, 2, 2))


def _fields(text):
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            typ, name = line.split()[:2]
            out.append((typ.split("/")[-1], name))
    return out


def test_embedded_vision_msgs_match_interface_package():
    msg_dir = REPO / "tools" / "vision_msgs" / "msg"
    if not msg_dir.is_dir():
        pytest.skip(f"no vision_msgs definitions at {msg_dir}")
    for full, text in ts.VISION_MSGS_4.items():
        name = full.split("/")[-1]
        assert _fields(text) == _fields((msg_dir / f"{name}.msg").read_text()), name


def test_typestore_hash_matches_live_publisher():
    """The bag's vision_msgs type hash equals the one rclpy announces (wire compatible)."""
    rclpy = pytest.importorskip("rclpy")
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable")
    from vision_msgs.msg import Detection2D, Detection2DArray

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node("hash_probe", context=ctx)
        store = ts.typestore()
        for cls, name in ((Detection2D, ts.DETECTION), (Detection2DArray, ts.DETECTION_ARRAY)):
            topic = f"/hash_probe_{cls.__name__.lower()}"
            node.create_publisher(cls, topic, 1)
            info = node.get_publishers_info_by_topic(topic)[0]
            assert str(info.topic_type_hash) == store.hash_rihs01(name)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)


def test_resend_timeout_names_the_whole_wait():
    """The init frame is re-sent every 0.5 s; when nothing comes back, the error gives the full deadline
    (it used to print the last resend interval, 'within 0 s')."""
    from rman_ros.bag.play import _publish_until_result

    class Silent:  # a node that never answers
        def __init__(self):
            self.sent = 0
            self.image_pub = self

        def publish(self, msg):
            self.sent += 1

        def wait_results(self, stamp, count, timeout):
            time.sleep(timeout)
            raise TimeoutError(f"no detections for stamp {stamp} within {timeout:.0f} s")

    client = Silent()
    with pytest.raises(TimeoutError, match=r"stamp 7 within 2 s \(the frame was re-sent"):
        _publish_until_result(client, object(), 7, 1.6, resend=True)
    assert client.sent >= 3
