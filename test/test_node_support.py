"""Shared helpers for the node tests (no tests here): rclpy client, synthetic frames, waits.

The environment (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, random ROS_DOMAIN_ID) is set by
test/conftest.py before rclpy is imported; the setdefault calls below only matter when this module
is imported on its own.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
import time

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))

import numpy as np  # noqa: E402

# A small, fast tracker configuration for tests (the real RMANTracker, fewer samples/iterations).
FAST_TRACKER = {
    "n_init_samples": 600, "n_pos_init": 100, "init_iters": 8, "n_bbreg": 200,
    "n_candidates": 64, "update_iters": 3, "n_pos_update": 20, "n_neg_update": 60,
    "num_threads": 1, "seed": 0,
}


def wait_for(pred, timeout: float = 10.0, period: float = 0.01, what: str = "condition"):
    """Poll `pred()` until truthy; return its value or raise AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(period)


def synthetic_frame(i: int, h: int = 120, w: int = 160, box_size=(30, 24), seed: int = 1):
    """Textured background with a distinctive patch moving right/down; returns (rgb, (x, y, w, h))."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(40, 90, size=(h, w, 3), dtype=np.uint8)
    bw, bh = box_size
    x = 20 + (i * 2) % max(1, w - bw - 40)
    y = 30 + (i % 20)
    yy, xx = np.mgrid[0:bh, 0:bw]
    patch = np.stack([(xx * 8) % 256, (yy * 10) % 256, np.full_like(xx, 220)], axis=2).astype(np.uint8)
    img = bg.copy()
    img[y:y + bh, x:x + bw] = patch
    return img, (float(x), float(y), float(bw), float(bh))


def stamp(ns: int):
    from rman_ros.ros.conversions import ns_to_stamp

    return ns_to_stamp(ns)


def image_msg(rgb, t_ns: int, frame_id: str = "cam", encoding: str = "rgb8"):
    from std_msgs.msg import Header

    from rman_ros.ros.conversions import rgb_to_image_msg

    return rgb_to_image_msg(rgb, Header(stamp=stamp(t_ns), frame_id=frame_id), encoding)


def init_msg(box, t_ns: int, frame_id: str = "cam"):
    from std_msgs.msg import Header

    from rman_ros.ros.conversions import make_init_detection

    return make_init_detection(box, Header(stamp=stamp(t_ns), frame_id=frame_id))


class Client:
    """Test-side node: publishes images/inits, records detections and diagnostics."""

    def __init__(self, context, namespace: str = "", reliable_images: bool = False,
                 node_name: str = "rman_tracker", image_topic: str = "image", init_topic: str = "init"):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from std_srvs.srv import Trigger
        from vision_msgs.msg import Detection2D, Detection2DArray

        self.node = rclpy.create_node(f"test_client_{random.randint(0, 1 << 30)}", context=context,
                                      namespace=namespace)
        rel = ReliabilityPolicy.RELIABLE if reliable_images else ReliabilityPolicy.BEST_EFFORT
        self.image_pub = self.node.create_publisher(Image, image_topic,
                                                 QoSProfile(depth=5, reliability=rel))
        self.init_pub = self.node.create_publisher(Detection2D, init_topic, 10)
        self.detections = []
        self.diagnostics = []
        # only this node's status: other tracker nodes may share the domain (parallel test runs)
        ns = namespace.strip("/")
        self.status_name = f"/{ns + '/' if ns else ''}{node_name}: tracker"
        self._lock = threading.Lock()
        self.node.create_subscription(Detection2DArray, "detections", self._on_det, 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.reset_client = self.node.create_client(Trigger, f"{node_name}/reset")

    def _on_det(self, msg):
        with self._lock:
            self.detections.append(msg)

    def _on_diag(self, msg):
        with self._lock:
            self.diagnostics.extend(s for s in msg.status if s.name == self.status_name)

    def det_for(self, t_ns: int):
        """All detection arrays received for the image stamped `t_ns`."""
        from rman_ros.ros.conversions import stamp_to_ns

        with self._lock:
            return [d for d in self.detections if stamp_to_ns(d.header.stamp) == t_ns]

    def wait_connected(self, timeout: float = 10.0):
        wait_for(lambda: self.image_pub.get_subscription_count() > 0
                 and self.init_pub.get_subscription_count() > 0
                 and self.node.count_publishers(self.node.resolve_topic_name("detections")) > 0,
                 timeout, what="node discovery")

    def send_frame(self, rgb, t_ns: int, timeout: float = 30.0, frame_id: str = "cam",
                   encoding: str = "rgb8"):
        """Publish one image and wait for its detections (lockstep)."""
        self.image_pub.publish(image_msg(rgb, t_ns, frame_id, encoding))
        return wait_for(lambda: self.det_for(t_ns), timeout, what=f"detections for stamp {t_ns}")[-1]

    def send_init(self, box, t_ns: int, timeout: float = 60.0, expect_id=None):
        """Publish an init for the frame stamped `t_ns`; wait for the non-empty init result."""
        n_before = len(self.det_for(t_ns))  # the frame's own result, if already published
        self.init_pub.publish(init_msg(box, t_ns))

        def done():
            for d in self.det_for(t_ns)[n_before:]:
                if d.detections and (expect_id is None or d.detections[0].id == str(expect_id)):
                    return d
            return None

        return wait_for(done, timeout, what=f"init result for stamp {t_ns}")

    def problem_count(self, kind: str) -> int:
        """Highest `problem_count.<kind>` seen in /diagnostics so far."""
        best = 0
        with self._lock:
            for s in self.diagnostics:
                for kv in s.values:
                    if kv.key == f"problem_count.{kind}":
                        best = max(best, int(kv.value))
        return best

    def problem_seen(self, kind: str, min_level: int = 1, after_count: int = 0):
        """Diagnostics showing `kind` as the headline at >= min_level with a count > after_count."""
        with self._lock:
            statuses = list(self.diagnostics)
        return [s for s in statuses
                if s.level[0] >= min_level and s.message.startswith(kind)
                and any(kv.key == f"problem_count.{kind}" and int(kv.value) > after_count for kv in s.values)]

    def reset(self, timeout: float = 5.0):
        from std_srvs.srv import Trigger

        wait_for(lambda: self.reset_client.service_is_ready(), timeout, what="reset service")
        fut = self.reset_client.call_async(Trigger.Request())
        wait_for(fut.done, timeout, what="reset response")
        return fut.result()


T0 = 1_700_000_100 * 1_000_000_000
DT = 33_333_333


def tracker_overrides(extra=None):
    """Parameter overrides of an in-process node: the FAST_TRACKER config on the CPU, plus `extra`."""
    from rclpy.parameter import Parameter

    p = [Parameter(f"tracker.{k}", value=v) for k, v in FAST_TRACKER.items()]
    p.append(Parameter("device", value="cpu"))
    p.append(Parameter("label", value="target"))
    for k, v in (extra or {}).items():
        p.append(Parameter(k, value=v))
    return p


class Harness:
    """A TrackerNode and a Client in one rclpy context, spun by a MultiThreadedExecutor on a thread."""

    def __init__(self, extra=None, factory=None, namespace="", image_topic="image"):
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        from rman_ros.ros.tracker_node import TrackerNode, autostart

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = TrackerNode(context=self.ctx, parameter_overrides=tracker_overrides(extra),
                                tracker_factory=factory, namespace=namespace)
        self.client = Client(self.ctx, namespace=namespace, image_topic=image_topic)
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert autostart(self.node)
        if image_topic == "image":
            self.client.wait_connected()
        self.t = T0

    def next_stamp(self):
        self.t += DT
        return self.t

    def close(self):
        import rclpy

        self.node.shutdown_worker()
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        self.client.node.destroy_node()
        rclpy.shutdown(context=self.ctx)
        self.thread.join(timeout=5)


def harness_fixture(prefix: str, **kw):
    """A module-scoped pytest fixture yielding a Harness in a private namespace (parallel test runs that
    share the ROS domain stay apart)."""
    import pytest

    @pytest.fixture(scope="module")
    def fixture():
        harness = Harness(namespace=f"{prefix}_{random.randint(0, 1 << 30)}", **kw)
        yield harness
        harness.close()

    return fixture


@contextlib.contextmanager
def debug_images(h):
    """Subscribe the client to the node's debug_image (which is only built for a subscriber); yields the
    list the images are appended to."""
    from sensor_msgs.msg import Image

    got = []
    sub = h.client.node.create_subscription(Image, "debug_image", got.append, 5)
    try:
        wait_for(lambda: h.node._pub_debug.get_subscription_count() > 0, 10.0, what="debug subscriber")
        yield got
    finally:
        h.client.node.destroy_subscription(sub)


def status_value(status, key):
    for kv in status.values:
        if kv.key == key:
            return kv.value
    return None


def wait_problem(h, kind, min_level=1, before=None):
    """Wait until /diagnostics shows `kind` (level >= min_level) with a count above `before`."""
    before = h.client.problem_count(kind) if before is None else before
    return wait_for(lambda: h.client.problem_seen(kind, min_level, before), 8.0,
                    what=f"diagnostics reporting '{kind}'")
