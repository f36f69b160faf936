"""Checks of what the node gets from outside: header stamps, init boxes, image sizes (pure functions).

Each raises or returns a reason fit for a log line; the node turns them into throttled warnings.
"""
from __future__ import annotations

import math
from typing import Optional

NS_PER_S = 1_000_000_000
MAX_BOX_PX = 1e6  # an init box coordinate or side beyond this many pixels is not a box from any camera


class BoxError(ValueError):
    """An init box that cannot be used. `kind` is a short machine-readable tag (nan, range, size, outside)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def normalise_stamp(stamp) -> bool:
    """Carry a builtin_interfaces/Time's nanosec >= 1e9 into sec, in place. True when it had to."""
    if int(stamp.nanosec) < NS_PER_S:
        return False
    carry, stamp.nanosec = divmod(int(stamp.nanosec), NS_PER_S)
    stamp.sec = int(stamp.sec) + carry
    return True


def check_box(cx: float, cy: float, w: float, h: float) -> tuple:
    """A box given by centre and size -> (x, y, w, h) top-left; BoxError for non-finite, absurd
    (beyond MAX_BOX_PX) or non-positive values."""
    values = tuple(float(v) for v in (cx, cy, w, h))
    if not all(math.isfinite(v) for v in values):
        raise BoxError("nan", f"init box has non-finite values (cx={cx}, cy={cy}, w={w}, h={h})")
    if any(abs(v) > MAX_BOX_PX for v in values):
        raise BoxError("range", f"init box (cx={cx:.6g}, cy={cy:.6g}, w={w:.6g}, h={h:.6g}) has values beyond "
                                f"{MAX_BOX_PX:.0e} px")
    cx, cy, w, h = values
    if w <= 0 or h <= 0:
        raise BoxError("size", f"init box has non-positive size ({w} x {h})")
    return (cx - w / 2.0, cy - h / 2.0, w, h)


def fit_box(box, image_shape, min_px: float) -> tuple:
    """(x, y, w, h) clipped to an image of shape (H, W, ...): what the tracker starts on and what the node
    publishes. BoxError when it misses the image, or when what is left is under `min_px` on a side (the
    tracker's min_box_px: it cannot sample around a smaller box)."""
    x, y, w, h = (float(v) for v in box)
    ih, iw = int(image_shape[0]), int(image_shape[1])
    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, float(iw)), min(y + h, float(ih))
    if x2 <= x1 or y2 <= y1:
        raise BoxError("outside", f"init box ({x:.1f}, {y:.1f}, {w:.1f}, {h:.1f}) lies outside the {iw}x{ih} image")
    cw, ch = x2 - x1, y2 - y1
    if cw < min_px or ch < min_px:
        inside = "" if (cw, ch) == (w, h) else " inside the image"
        raise BoxError("size", f"init box is {cw:g} x {ch:g} px{inside}; the tracker needs at least "
                               f"{min_px:g} px a side (tracker.min_box_px)")
    return (x1, y1, cw, ch)


def image_too_large(width: int, height: int, max_pixels: int) -> Optional[str]:
    """The reason a width x height image is refused (over `max_pixels`), else None."""
    if int(width) * int(height) > int(max_pixels):
        return (f"{width}x{height} image ({int(width) * int(height)} pixels) exceeds max_image_pixels = "
                f"{max_pixels}: dropped")
    return None


def drawable_corners(box, width: int, height: int) -> tuple:
    """Integer corners (x1, y1, x2, y2) of a finite box, clipped to one pixel around the image, so that
    drawing never overflows OpenCV's int coordinates."""
    x, y, w, h = (float(v) for v in box)

    def clip(v, hi):
        return int(round(min(max(v, -1.0), hi + 1.0)))

    return clip(x, width), clip(y, height), clip(x + w, width), clip(y + h, height)
