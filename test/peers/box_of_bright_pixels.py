"""A minimal second ROS 2 process for environment tests.

Subscribes to `image` (sensor_msgs/Image, mono8 or rgb8) and answers each frame on `detections`
(vision_msgs/Detection2DArray) with one box around the pixels brighter than 127, copying the image
header. Exits after --frames answers or --timeout seconds.
"""

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402


def bright_box(msg: Image):
    channels = {"mono8": 1, "rgb8": 3}[msg.encoding]
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels).max(axis=2)
    ys, xs = np.nonzero(pixels > 127)
    if xs.size == 0:
        return None
    return xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("box_of_bright_pixels")
    pub = node.create_publisher(Detection2DArray, "detections", QoSProfile(depth=10))
    answered = []

    def on_image(msg: Image) -> None:
        out = Detection2DArray(header=msg.header)
        box = bright_box(msg)
        if box is not None:
            x, y, w, h = (float(v) for v in box)
            det = Detection2D(header=msg.header, id="1")
            det.bbox.center.position.x = x + w / 2.0
            det.bbox.center.position.y = y + h / 2.0
            det.bbox.size_x, det.bbox.size_y = w, h
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = "bright", 1.0
            det.results.append(hyp)
            out.detections.append(det)
        pub.publish(out)
        answered.append(msg.header.stamp)

    node.create_subscription(Image, "image", on_image, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    print("peer ready", flush=True)
    deadline = time.monotonic() + args.timeout
    while rclpy.ok() and len(answered) < args.frames and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    time.sleep(0.5)  # let the last answer leave before the participant goes away
    node.destroy_node()
    rclpy.shutdown()
    return 0 if len(answered) >= args.frames else 1


if __name__ == "__main__":
    sys.exit(main())
