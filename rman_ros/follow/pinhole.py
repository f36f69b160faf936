"""Pinhole camera model for visual servoing (no ROS imports).

Image coordinates: u right, v down, in pixels. Camera optical frame: x right, y down, z forward
(REP-103 `_optical` convention). A box's distance comes from its height: Z = fy * H / h, with H the
target's real height in metres and h the box height in pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels (the K matrix of sensor_msgs/CameraInfo)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self):
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"intrinsics must be finite, got fx={self.fx}, fy={self.fy}, "
                             f"cx={self.cx}, cy={self.cy}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy} "
                             "(an all-zero K means an uncalibrated camera)")

    @classmethod
    def from_k(cls, k: Sequence[float]) -> "Intrinsics":
        """From the row-major 3x3 K of CameraInfo: fx=K[0], cx=K[2], fy=K[4], cy=K[5]."""
        if len(k) != 9:
            raise ValueError(f"K must have 9 elements, got {len(k)}")
        return cls(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]))

    def k(self) -> list:
        """Row-major 3x3 K (for building a CameraInfo)."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]


def bearing(u: float, cam: Intrinsics) -> float:
    """Horizontal angle of image column u from the optical axis, radians; positive to the right."""
    return math.atan2(u - cam.cx, cam.fx)


def distance(box_height_px: float, target_height_m: float, cam: Intrinsics) -> float:
    """Depth Z (metres, along the optical axis) of a target of real height H seen h pixels tall."""
    if not (math.isfinite(box_height_px) and box_height_px > 0):
        raise ValueError(f"box height must be a positive number of pixels, got {box_height_px}")
    if not (math.isfinite(target_height_m) and target_height_m > 0):
        raise ValueError(f"target height must be positive, got {target_height_m}")
    return cam.fy * target_height_m / box_height_px


def ray(u: float, v: float, cam: Intrinsics) -> Tuple[float, float, float]:
    """Viewing ray of pixel (u, v) in the optical frame, scaled to z = 1."""
    return ((u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0)


def target_position(u: float, v: float, box_height_px: float, target_height_m: float,
                    cam: Intrinsics) -> Tuple[float, float, float]:
    """3-D position (x, y, z) in the optical frame of a box centred at (u, v): ray(u, v) * Z."""
    z = distance(box_height_px, target_height_m, cam)
    rx, ry, _ = ray(u, v, cam)
    return (rx * z, ry * z, z)


def project(point: Sequence[float], cam: Intrinsics) -> Tuple[float, float]:
    """Pixel (u, v) of a point (x, y, z) in the optical frame (z > 0)."""
    x, y, z = (float(c) for c in point)
    if z <= 0:
        raise ValueError(f"point behind the camera (z={z})")
    return (cam.cx + cam.fx * x / z, cam.cy + cam.fy * y / z)


def rotate(q: Sequence[float], p: Sequence[float]) -> Tuple[float, float, float]:
    """Rotate vector p by the unit quaternion q = (x, y, z, w)."""
    qx, qy, qz, qw = (float(c) for c in q)
    px, py, pz = (float(c) for c in p)
    # t = 2 * (q_vec x p); p' = p + w * t + q_vec x t
    tx, ty, tz = 2.0 * (qy * pz - qz * py), 2.0 * (qz * px - qx * pz), 2.0 * (qx * py - qy * px)
    return (px + qw * tx + (qy * tz - qz * ty),
            py + qw * ty + (qz * tx - qx * tz),
            pz + qw * tz + (qx * ty - qy * tx))


def transform_point(translation: Sequence[float], q: Sequence[float],
                    p: Sequence[float]) -> Tuple[float, float, float]:
    """Apply the rigid transform (translation, rotation q = (x, y, z, w)) to point p."""
    r = rotate(q, p)
    return (r[0] + float(translation[0]), r[1] + float(translation[1]), r[2] + float(translation[2]))
