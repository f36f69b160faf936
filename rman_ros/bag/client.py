"""rclpy client that feeds a running tracker node and records what it publishes."""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from rman_ros.ros.conversions import detection_box, stamp_to_ns

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@dataclass
class Received:
    """One Detection2DArray as seen by the client."""

    stamp_ns: int
    frame_id: str
    recv_ns: int  # wall clock (time.time_ns) at reception
    box: Optional[tuple]
    score: float
    track_id: str


class ReplayClient:
    """Owns an rclpy context + node + spinning thread. Use as a context manager."""

    def __init__(self, image_topic: str = "image", init_topic: str = "init",
                 detections_topic: str = "detections", reliable_images: bool = True,
                 node_name: str = "rman_tracker", namespace: str = ""):
        self._topics = (image_topic, init_topic, detections_topic)
        self._namespace = namespace
        self._reliable = reliable_images
        self._node_name = node_name
        self.received: List[Received] = []
        self.by_stamp: Dict[int, List[Received]] = {}
        self.diagnostics: list = []
        self._lock = threading.Condition()

    def __enter__(self):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D, Detection2DArray

        self.ctx = rclpy.Context()
        rclpy.init(args=[], context=self.ctx)  # not sys.argv: the CLI's own arguments are not ROS args
        self.node = rclpy.create_node(f"rman_replay_{random.randint(0, 1 << 30)}", context=self.ctx,
                                      namespace=self._namespace)
        rel = ReliabilityPolicy.RELIABLE if self._reliable else ReliabilityPolicy.BEST_EFFORT
        image_topic, init_topic, det_topic = self._topics
        self.image_pub = self.node.create_publisher(Image, image_topic, QoSProfile(depth=1, reliability=rel))
        self.init_pub = self.node.create_publisher(Detection2D, init_topic, 10)
        self.node.create_subscription(Detection2DArray, det_topic, self._on_det, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        import rclpy

        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)
        self._thread.join(timeout=5)
        return False

    def _on_det(self, msg) -> None:
        now = time.time_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        if msg.detections:
            d = msg.detections[0]
            score = float(d.results[0].hypothesis.score) if d.results else float("nan")
            rec = Received(stamp, msg.header.frame_id, now, detection_box(d), score, d.id)
        else:
            rec = Received(stamp, msg.header.frame_id, now, None, 0.0, "")
        with self._lock:
            self.received.append(rec)
            self.by_stamp.setdefault(stamp, []).append(rec)
            self._lock.notify_all()

    def _on_diag(self, msg) -> None:
        with self._lock:
            ns = self._namespace.strip("/")
            name = f"/{ns + '/' if ns else ''}{self._node_name}: tracker"
            self.diagnostics.extend(s for s in msg.status if s.name == name)

    def wait_for_node(self, timeout: float = 300.0) -> None:
        """Until the node's image subscription exists (it is created on activation)."""
        deadline = time.monotonic() + timeout
        det_topic = self.node.resolve_topic_name(self._topics[2])
        while time.monotonic() < deadline:
            if (self.image_pub.get_subscription_count() > 0 and self.init_pub.get_subscription_count() > 0
                    and self.node.count_publishers(det_topic) > 0):
                return
            time.sleep(0.05)
        raise TimeoutError(f"no active tracker node on '{self.image_pub.topic_name}' after {timeout:.0f} s")

    def wait_results(self, stamp_ns: int, count: int = 1, timeout: float = 60.0,
                     need_box: bool = False) -> List[Received]:
        """Until `count` arrays (the last with a box if need_box) arrived for `stamp_ns`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = self.by_stamp.get(stamp_ns, [])
                if len(got) >= count and (not need_box or got[-1].box is not None):
                    return list(got)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no detections for stamp {stamp_ns} within {timeout:.0f} s")
                self._lock.wait(timeout=min(left, 0.1))

    def latest_diagnostics(self):
        with self._lock:
            return self.diagnostics[-1] if self.diagnostics else None
