"""Visual-servoing law of the follower (no ROS imports).

Yaw: angular.z = -k_yaw * bearing, with bearing = atan2(u - cx, fx), zero while the box centre is
within `deadband_px` of cx, clipped to +-max_yaw_rate. A target right of the principal point
(u > cx) gives angular.z < 0, a right turn (REP-103: z up, counter-clockwise positive).
Forward: linear.x = k_forward * (Z - desired_distance_m), Z = fy * H / h, clipped to
[0, max_forward_speed], or to +-max_forward_speed when `allow_reverse` is set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Optional, Tuple

from rman_ros.follow.pinhole import Intrinsics, bearing, distance, target_position


@dataclass(frozen=True)
class Gains:
    """The follower's tunables; validated on construction."""

    target_height_m: float = 1.7
    desired_distance_m: float = 2.0
    k_yaw: float = 1.0
    k_forward: float = 0.5
    max_yaw_rate: float = 1.0
    max_forward_speed: float = 0.5
    deadband_px: float = 10.0
    allow_reverse: bool = False

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "allow_reverse":
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value}")
        if self.target_height_m <= 0:
            raise ValueError(f"target_height_m must be > 0, got {self.target_height_m}")


@dataclass(frozen=True)
class Command:
    """A velocity command: linear.x (m/s, forward) and angular.z (rad/s, left positive)."""

    linear_x: float = 0.0
    angular_z: float = 0.0

    @property
    def is_zero(self) -> bool:
        return self.linear_x == 0.0 and self.angular_z == 0.0


STOP = Command()


@dataclass(frozen=True)
class FollowOutput:
    """One control step: the command, and what it was computed from."""

    command: Command
    bearing: float  # rad, positive to the right
    distance: Optional[float]  # m along the optical axis; None without a usable box height
    position: Optional[Tuple[float, float, float]]  # optical frame, m; None without a distance


def clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def yaw_rate(u: float, cam: Intrinsics, gains: Gains) -> float:
    """angular.z for a box centred at column u (zero inside the deadband)."""
    if abs(u - cam.cx) <= gains.deadband_px:
        return 0.0
    rate = -gains.k_yaw * bearing(u, cam)
    return clip(rate, -gains.max_yaw_rate, gains.max_yaw_rate) + 0.0  # + 0.0: no -0.0


def forward_speed(z: float, gains: Gains) -> float:
    """linear.x for a target at depth z (never negative unless allow_reverse)."""
    low = -gains.max_forward_speed if gains.allow_reverse else 0.0
    return clip(gains.k_forward * (z - gains.desired_distance_m), low, gains.max_forward_speed) + 0.0


def control(u: float, v: float, box_height_px: float, cam: Intrinsics, gains: Gains) -> FollowOutput:
    """Command for a box centred at (u, v) with height h pixels. Without a usable height (zero,
    negative, not finite) only the yaw is commanded and the distance is unknown."""
    if not (math.isfinite(u) and math.isfinite(v)):
        raise ValueError(f"box centre must be finite, got ({u}, {v})")
    wz = yaw_rate(u, cam, gains)
    try:
        z = distance(box_height_px, gains.target_height_m, cam)
    except ValueError:
        return FollowOutput(Command(0.0, wz), bearing(u, cam), None, None)
    return FollowOutput(Command(forward_speed(z, gains), wz), bearing(u, cam), z,
                        target_position(u, v, box_height_px, gains.target_height_m, cam))
