"""Message glue of the follower: pick the target from a Detection2DArray, build Twist / PoseStamped /
CameraInfo."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from geometry_msgs.msg import PoseStamped, Twist
from sensor_msgs.msg import CameraInfo

from rman_ros.follow.controller import Command
from rman_ros.follow.pinhole import Intrinsics


@dataclass(frozen=True)
class TargetBox:
    """Box centre (u, v) and size (w, h) in pixels, with the detection's score."""

    u: float
    v: float
    w: float
    h: float
    score: float


def detection_score(det) -> float:
    """Best hypothesis score of a Detection2D; 1.0 when it carries no hypothesis (a plain box)."""
    if not det.results:
        return 1.0
    return max(float(r.hypothesis.score) for r in det.results)


def select_target(array, min_score: float) -> Optional[TargetBox]:
    """The highest-scoring detection with score >= min_score and a finite box, or None (lost)."""
    best = None
    for det in array.detections:
        box = det.bbox
        values = (box.center.position.x, box.center.position.y, box.size_x, box.size_y)
        if not all(math.isfinite(float(x)) for x in values):
            continue
        score = detection_score(det)
        if score < min_score or (best is not None and score <= best.score):
            continue
        best = TargetBox(*(float(x) for x in values), score)
    return best


def twist(cmd: Command) -> Twist:
    msg = Twist()
    msg.linear.x = float(cmd.linear_x)
    msg.angular.z = float(cmd.angular_z)
    return msg


def pose_stamped(header, position, orientation=(0.0, 0.0, 0.0, 1.0)) -> PoseStamped:
    """PoseStamped at `position` (x, y, z) with `orientation` (x, y, z, w; identity by default)."""
    msg = PoseStamped()
    msg.header = header
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(c) for c in position)
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = (float(c) for c in orientation)
    return msg


def camera_info(cam: Intrinsics, width: int, height: int, header=None) -> CameraInfo:
    """A distortion-free CameraInfo with K (and P) from `cam`."""
    msg = CameraInfo()
    if header is not None:
        msg.header = header
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = cam.k()
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [cam.fx, 0.0, cam.cx, 0.0, 0.0, cam.fy, cam.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg
