"""Shared helpers for the follower tests (no tests here): a follower subprocess, and a test-side node that
feeds camera_info / detections like a camera and a tracker would, and records cmd_vel / target_pose.

The environment (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, random ROS_DOMAIN_ID) comes from conftest.py.
"""
from __future__ import annotations

import random
import threading
import time

from test_node_support import wait_for

CAM = {"fx": 400.0, "fy": 420.0, "cx": 319.5, "cy": 239.5}  # a 640x480 camera
WIDTH, HEIGHT = 640, 480
FRAME_ID = "test_cam_optical"


def private_namespace(prefix: str) -> str:
    """A namespace no parallel test run shares."""
    return f"{prefix}{random.randint(0, 1 << 30)}"


def start_follower(namespace: str, log_path, params: dict = None):
    """A follow_node process built by the launch plan (package config/follow.yaml, `namespace`), with
    extra `params`; returns the Popen."""
    from rman_ros.bag.launcher import PACKAGE_ROOT
    from rman_ros.follow import launch_plan

    args = launch_plan.default_arguments(str(PACKAGE_ROOT))
    args["namespace"] = namespace
    spec = launch_plan.node_specs(args)[1]
    if params:
        spec["parameters"].append(params)
    return launch_plan.start(spec, log_path)


class FollowClient:
    """Test-side node in `namespace`: a feeder thread publishes camera_info and a detection array at
    `rate` Hz (the box set with set_box(), an empty array after set_empty(), nothing after silence());
    cmd_vel and target_pose are recorded with their arrival time (time.monotonic())."""

    def __init__(self, context, namespace: str, rate: float = 30.0, node_name: str = "rman_follower"):
        import rclpy
        from geometry_msgs.msg import PoseStamped, Twist
        from lifecycle_msgs.srv import ChangeState
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo
        from std_srvs.srv import SetBool
        from vision_msgs.msg import Detection2DArray

        self.node = rclpy.create_node(f"follow_test_{random.randint(0, 1 << 30)}", context=context,
                                      namespace=namespace)
        self.det_pub = self.node.create_publisher(Detection2DArray, "detections", 10)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", 10)
        self._lock = threading.Lock()
        self.cmds = []  # (arrival time, linear.x, angular.z)
        self.poses = []  # (arrival time, PoseStamped)
        self.node.create_subscription(Twist, "cmd_vel", self._on_cmd, 50)
        self.node.create_subscription(PoseStamped, "target_pose", self._on_pose, 50)
        self.enable_client = self.node.create_client(SetBool, f"{node_name}/enable")
        self.lifecycle_client = self.node.create_client(ChangeState, f"{node_name}/change_state")
        self.box = None  # (u, v, w, h, score) or None: empty arrays
        self.publish_detections = False
        self.publish_camera_info = False
        self.last_det_sent = None
        self._stop = threading.Event()
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._spin = threading.Thread(target=self._executor.spin, daemon=True)
        self._spin.start()
        self._feeder = threading.Thread(target=self._feed, args=(1.0 / rate,), daemon=True)
        self._feeder.start()

    # ---------------------------------------------------------------- recording
    def _on_cmd(self, msg):
        with self._lock:
            self.cmds.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def _on_pose(self, msg):
        with self._lock:
            self.poses.append((time.monotonic(), msg))

    def cmds_since(self, t: float) -> list:
        with self._lock:
            return [c for c in self.cmds if c[0] >= t]

    def poses_since(self, t: float) -> list:
        with self._lock:
            return [p for p in self.poses if p[0] >= t]

    def wait_cmd(self, pred, timeout: float = 5.0, what: str = "cmd_vel", since: float = None):
        """The first cmd_vel (t, vx, wz) received after `since` (default: now) with pred(vx, wz)."""
        since = time.monotonic() if since is None else since

        def found():
            return next((c for c in self.cmds_since(since) if pred(c[1], c[2])), None)

        return wait_for(found, timeout, what=what)

    # ---------------------------------------------------------------- feeding
    def set_box(self, u: float, v: float, w: float, h: float, score: float = 0.9) -> None:
        self.box, self.publish_detections = (u, v, w, h, score), True

    def set_empty(self) -> None:
        self.box, self.publish_detections = None, True

    def silence(self) -> None:
        self.publish_detections = False

    def _feed(self, period: float) -> None:
        from std_msgs.msg import Header
        from vision_msgs.msg import Detection2DArray

        from rman_ros.follow.messages import camera_info
        from rman_ros.follow.pinhole import Intrinsics
        from rman_ros.ros.conversions import box_to_detection

        cam = Intrinsics(**CAM)
        while not self._stop.wait(period):
            header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=FRAME_ID)
            if self.publish_camera_info:
                self.info_pub.publish(camera_info(cam, WIDTH, HEIGHT, header))
            if self.publish_detections:
                arr = Detection2DArray(header=header)
                box = self.box
                if box is not None:
                    u, v, w, h, score = box
                    top_left = (u - w / 2, v - h / 2, w, h)
                    arr.detections.append(box_to_detection(top_left, header, 1, "target", score))
                self.det_pub.publish(arr)
                self.last_det_sent = time.monotonic()

    # ---------------------------------------------------------------- services
    def connected(self) -> bool:
        return (self.det_pub.get_subscription_count() > 0 and self.info_pub.get_subscription_count() > 0
                and self.node.count_publishers(self.node.resolve_topic_name("cmd_vel")) > 0)

    def _call(self, client, request, timeout: float):
        wait_for(client.service_is_ready, timeout, what=f"service {client.srv_name}")
        fut = client.call_async(request)
        wait_for(fut.done, timeout, what=f"response of {client.srv_name}")
        return fut.result()

    def enable(self, on: bool, timeout: float = 5.0):
        from std_srvs.srv import SetBool

        return self._call(self.enable_client, SetBool.Request(data=on), timeout)

    def change_state(self, transition_id: int, timeout: float = 5.0) -> bool:
        from lifecycle_msgs.srv import ChangeState

        req = ChangeState.Request()
        req.transition.id = transition_id
        return self._call(self.lifecycle_client, req, timeout).success

    def close(self) -> None:
        self._stop.set()
        self._feeder.join(timeout=2)
        self._executor.shutdown(timeout_sec=5)
        self._spin.join(timeout=5)
        self.node.destroy_node()
