"""The simulated pan camera as a ROS node, closed around a follower through real topics.

Every frame it renders the world at the camera's pan, publishes `camera_info` and either the target's
ground-truth box as a vision_msgs/Detection2DArray on `detections` (empty when the target is out of
view or hidden), or, with `publish_images`, the image on `image` for a tracker to box. Its `cmd_vel`
subscription pans the camera: the angle integrates the latest angular.z over wall-clock time.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from rman_ros.follow.sim import Box, PanCameraWorld


@dataclass
class FrameRecord:
    t: float  # s since the run started
    pan: float  # camera azimuth, rad (right positive)
    bearing: float  # true target azimuth relative to the optical axis, rad (right positive)
    box: Optional[Box]  # box published (ground truth, or the tracker's latest), None when lost
    angular_z: float  # last cmd_vel angular.z received, rad/s
    linear_x: float  # last cmd_vel linear.x received, m/s


class PanCameraLoop:
    """Owns an rclpy node (in `context`, spun in a background thread) and the world."""

    def __init__(self, context, world: PanCameraWorld, namespace: str = "",
                 frame_id: str = "pan_camera_optical", publish_images: bool = False):
        import rclpy
        from geometry_msgs.msg import Twist
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray

        self.world = world
        self.frame_id = frame_id
        self.publish_images = publish_images
        self.node = rclpy.create_node(f"pan_camera_sim_{random.randint(0, 1 << 30)}", context=context,
                                      namespace=namespace)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", 10)
        create = self.node.create_publisher
        self.det_pub = None if publish_images else create(Detection2DArray, "detections", 10)
        self.image_pub = (create(Image, "image", QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
                          if publish_images else None)
        self._lock = threading.Lock()
        self.cmd = Twist()
        self.cmd_count = 0
        self.last_det_box: Optional[Box] = None  # the latest box seen on `detections` (tracker mode)
        self.node.create_subscription(Twist, "cmd_vel", self._on_cmd, 10)
        if publish_images:
            self.node.create_subscription(Detection2DArray, "detections", self._on_det, 10)
        self.records: List[FrameRecord] = []
        self._t0: Optional[float] = None
        self._last_step: Optional[float] = None
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, name="pan_camera_sim", daemon=True)
        self._thread.start()

    def _on_cmd(self, msg) -> None:
        with self._lock:
            self.cmd = msg
            self.cmd_count += 1

    def _on_det(self, msg) -> None:
        from rman_ros.follow.messages import select_target

        target = select_target(msg, 0.0)
        with self._lock:
            self.last_det_box = (None if target is None else
                                 (target.u - target.w / 2.0, target.v - target.h / 2.0, target.w, target.h))

    def command(self) -> tuple:
        """(angular_z, linear_x) of the latest cmd_vel."""
        with self._lock:
            return float(self.cmd.angular.z), float(self.cmd.linear.x)

    def connected(self) -> bool:
        """True when a follower subscribes our inputs and publishes cmd_vel."""
        out = self.image_pub if self.publish_images else self.det_pub
        return (out.get_subscription_count() > 0 and self.info_pub.get_subscription_count() > 0
                and self.node.count_publishers(self.node.resolve_topic_name("cmd_vel")) > 0)

    def header(self):
        from std_msgs.msg import Header

        return Header(stamp=self.node.get_clock().now().to_msg(), frame_id=self.frame_id)

    def publish_frame(self, rgb, box: Optional[Box], header) -> None:
        from vision_msgs.msg import Detection2DArray

        from rman_ros.follow.messages import camera_info
        from rman_ros.ros.conversions import box_to_detection, rgb_to_image_msg

        w = self.world
        self.info_pub.publish(camera_info(w.cam, w.width, w.height, header))
        if self.publish_images:
            self.image_pub.publish(rgb_to_image_msg(rgb, header))
            return
        arr = Detection2DArray(header=header)
        if box is not None:
            arr.detections.append(box_to_detection(box, header, 1, "target", 1.0))
        self.det_pub.publish(arr)

    def step(self, visible: bool = True, publish: bool = True):
        """Advance the pan by the latest command over the wall time since the last step, render, publish
        (unless `publish` is false: the camera goes silent), record. Returns (rgb, record)."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = self._last_step = now
        wz, vx = self.command()
        self.world.step(wz, now - self._last_step)
        self._last_step = now
        t = now - self._t0
        rgb, box = self.world.render(t, visible)
        if publish:
            self.publish_frame(rgb, box, self.header())
        if self.publish_images:
            with self._lock:
                box = self.last_det_box
        rec = FrameRecord(t, self.world.pan, self.world.relative_azimuth(t), box if publish else None, wz, vx)
        self.records.append(rec)
        return rgb, rec

    def run(self, duration: float, fps: float = 30.0, visible: Callable[[float], bool] = lambda t: True,
            publish: Callable[[float], bool] = lambda t: True, on_frame=None) -> List[FrameRecord]:
        """Step at `fps` (wall clock) for `duration` s; `visible(t)` / `publish(t)` switch the target and
        the camera's output, `on_frame(rgb, record)` sees every frame. Returns this run's records."""
        start = len(self.records)
        t_end = time.monotonic() + duration
        period = 1.0 / fps
        next_at = time.monotonic()
        while time.monotonic() < t_end:
            t = 0.0 if self._t0 is None else time.monotonic() - self._t0
            rgb, rec = self.step(visible(t), publish(t))
            if on_frame is not None:
                on_frame(rgb, rec)
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
        return self.records[start:]

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=5)
        self._thread.join(timeout=5)
        self.node.destroy_node()
