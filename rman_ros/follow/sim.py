"""A simulated pan camera for closed-loop tests of the follower (numpy + OpenCV, no ROS imports).

The camera sits at the centre of a textured cylindrical panorama and can only pan. A textured
rectangle (the target, `target_height_m` tall) moves around it. Angles are in radians, measured
clockwise seen from above (positive = to the right), so a yaw rate command angular.z (REP-103,
counter-clockwise positive) pans the camera by -angular.z * dt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import numpy as np

from rman_ros.follow.pinhole import Intrinsics

Box = Tuple[float, float, float, float]  # (x, y, w, h), top-left corner, pixels


def sine_path(amplitude: float = 0.7, period: float = 8.0, range_m: float = 3.0,
              range_amplitude: float = 0.8, range_period: float = 11.0) -> Callable[[float], tuple]:
    """Target path t -> (azimuth rad, range m): swings left/right and comes closer/goes away."""
    def path(t: float) -> tuple:
        return (amplitude * math.sin(2.0 * math.pi * t / period),
                range_m + range_amplitude * math.sin(2.0 * math.pi * t / range_period))
    return path


def _texture(rng: np.random.Generator, height: int, width: int, cell: int, low: int, high: int) -> np.ndarray:
    """Blocky random colour texture with fine noise (gives a tracker, or an eye, something to hold)."""
    import cv2

    coarse = rng.integers(low, high, size=(max(1, height // cell), max(1, width // cell), 3), dtype=np.uint8)
    tex = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_NEAREST).astype(np.int16)
    tex += rng.integers(-12, 13, size=tex.shape, dtype=np.int16)
    return np.clip(tex, 0, 255).astype(np.uint8)


@dataclass
class PanCameraWorld:
    """The world and the camera. `pan` is the camera's azimuth; `step(angular_z, dt)` integrates it."""

    width: int = 320
    height: int = 240
    focal_px: float = 200.0
    target_height_m: float = 1.7
    target_width_m: float = 0.6
    target_drop_m: float = 0.2  # target centre below the camera's optical axis
    path: Callable[[float], tuple] = field(default_factory=sine_path)
    seed: int = 0
    pan: float = 0.0

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        self.cam = Intrinsics(self.focal_px, self.focal_px, (self.width - 1) / 2.0, (self.height - 1) / 2.0)
        self._pano_cols = int(round(2.0 * math.pi * self.focal_px))  # focal_px columns per radian
        self._panorama = _texture(rng, self.height, self._pano_cols, cell=12, low=30, high=140)
        self._target_tex = _texture(rng, 96, 40, cell=8, low=0, high=256)
        self._target_tex[:, :, 0] = np.maximum(self._target_tex[:, :, 0], 180)  # a reddish target
        self._col_angles = np.arctan((np.arange(self.width) - self.cam.cx) / self.cam.fx)

    def step(self, angular_z: float, dt: float) -> None:
        """Pan by the yaw rate command for dt seconds (angular.z > 0 turns left)."""
        self.pan = math.remainder(self.pan - float(angular_z) * float(dt), 2.0 * math.pi)

    def relative_azimuth(self, t: float) -> float:
        """Target azimuth relative to the optical axis, in (-pi, pi]; positive to the right."""
        azimuth, _ = self.path(t)
        return math.remainder(azimuth - self.pan, 2.0 * math.pi)

    def target_box(self, t: float) -> Optional[Box]:
        """The target's box in the image, clipped to it; None when the target is not in view."""
        delta = self.relative_azimuth(t)
        _, rng_m = self.path(t)
        z = rng_m * math.cos(delta)
        if z <= 0.1:
            return None
        u = self.cam.cx + self.cam.fx * rng_m * math.sin(delta) / z
        v = self.cam.cy + self.cam.fy * self.target_drop_m / z
        w, h = self.cam.fx * self.target_width_m / z, self.cam.fy * self.target_height_m / z
        x0, y0 = max(0.0, u - w / 2.0), max(0.0, v - h / 2.0)
        x1, y1 = min(float(self.width), u + w / 2.0), min(float(self.height), v + h / 2.0)
        if x1 - x0 < 0.5 * w or y1 - y0 < 2.0:  # less than half of it in view: not visible
            return None
        return (x0, y0, x1 - x0, y1 - y0)

    def render(self, t: float, visible: bool = True) -> Tuple[np.ndarray, Optional[Box]]:
        """(HxWx3 uint8 RGB image at the current pan, the target's box or None)."""
        import cv2

        cols = np.round((self.pan + self._col_angles) * self.focal_px).astype(np.int64) % self._pano_cols
        img = self._panorama[:, cols].copy()
        box = self.target_box(t) if visible else None
        if box is not None:
            x, y, w, h = box
            xi, yi = int(round(x)), int(round(y))
            wi, hi = max(1, min(self.width - xi, int(round(w)))), max(1, min(self.height - yi, int(round(h))))
            patch = cv2.resize(self._target_tex, (wi, hi), interpolation=cv2.INTER_NEAREST)
            img[yi:yi + hi, xi:xi + wi] = patch
        return img, box
