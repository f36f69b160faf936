"""Message <-> numpy conversions (no cv_bridge; pure numpy/OpenCV).

Images are converted to HxWx3 uint8 RGB, the tracker's input format. Every function validates its
input and raises ImageError / BoxError (both ValueError) with a message fit for a log line.
"""
from __future__ import annotations

import numpy as np

from rman_ros.ros.validation import BoxError, check_box, fit_box  # noqa: F401 - BoxError re-exported

# encoding -> (channels, numpy dtype)
SUPPORTED_ENCODINGS = {
    "rgb8": (3, np.uint8),
    "bgr8": (3, np.uint8),
    "mono8": (1, np.uint8),
    "mono16": (1, np.uint16),
    "rgba8": (4, np.uint8),
    "bgra8": (4, np.uint8),
}


class ImageError(ValueError):
    """An image message that cannot be converted. `kind` is a short machine-readable tag."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int, stamp_cls=None):
    """Integer nanoseconds -> builtin_interfaces/Time (or `stamp_cls`)."""
    if stamp_cls is None:
        from builtin_interfaces.msg import Time as stamp_cls
    return stamp_cls(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def _as_uint8(data) -> np.ndarray:
    """Message byte payload (bytes, array.array('B'), list, ndarray) -> flat uint8 view/array."""
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def image_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB (a copy). mono16 is scaled to 8 bit (value >> 8)."""
    enc = str(msg.encoding).lower()
    if enc not in SUPPORTED_ENCODINGS:
        raise ImageError("encoding", f"unsupported encoding '{msg.encoding}' "
                                     f"(supported: {', '.join(SUPPORTED_ENCODINGS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageError("size", f"zero-size image ({width}x{height})")
    channels, dtype = SUPPORTED_ENCODINGS[enc]
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageError("step", f"step {step} < width*channels*bytes = {row_bytes}")
    data = msg.data
    buf = _as_uint8(data)
    if buf.size < step * height:
        raise ImageError("data", f"data has {buf.size} bytes, expected step*height = {step * height}")
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes]
    if dtype == np.uint16:
        big = bool(msg.is_bigendian)
        arr = np.ascontiguousarray(rows).view(">u2" if big else "<u2").reshape(height, width)
        gray = (arr >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    arr = rows.reshape(height, width, channels)
    if enc == "rgb8":
        return arr.copy()
    if enc == "bgr8":
        return arr[:, :, ::-1].copy()
    if enc == "mono8":
        return np.repeat(arr, 3, axis=2)
    if enc == "rgba8":
        return arr[:, :, :3].copy()
    return arr[:, :, 2::-1].copy()  # bgra8


def compressed_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> HxWx3 uint8 RGB."""
    import cv2

    buf = _as_uint8(msg.data)
    if buf.size == 0:
        raise ImageError("size", "empty compressed image")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageError("decode", f"cannot decode compressed image (format '{msg.format}')")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_image_msg(rgb: np.ndarray, header=None, encoding: str = "rgb8", msg_cls=None):
    """HxWx3 uint8 RGB -> sensor_msgs/Image in `encoding` (any supported encoding)."""
    if msg_cls is None:
        from sensor_msgs.msg import Image as msg_cls
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError("array", f"expected HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    enc = encoding.lower()
    if enc == "rgb8":
        out = rgb
    elif enc == "bgr8":
        out = rgb[:, :, ::-1]
    elif enc == "rgba8":
        out = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    elif enc == "bgra8":
        out = np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
    elif enc in ("mono8", "mono16"):
        gray = (0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]).round().astype(np.uint8)
        out = gray if enc == "mono8" else (gray.astype("<u2") * 257)
    else:
        raise ImageError("encoding", f"unsupported encoding '{encoding}'")
    out = np.ascontiguousarray(out)
    msg = msg_cls()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = enc
    msg.is_bigendian = 0
    msg.step = int(out.strides[0])
    msg.data = out.tobytes()
    return msg


def box_center(box) -> tuple:
    """(x, y, w, h) top-left box -> (cx, cy, w, h), the vision_msgs BoundingBox2D layout."""
    x, y, w, h = (float(v) for v in box)
    return x + w / 2.0, y + h / 2.0, w, h


def detection_box(det) -> tuple:
    """A Detection2D's bbox (centre and size) -> (x, y, w, h) top-left, unchecked (for boxes read back:
    ground truth, results). Works on rclpy and rosbags messages alike."""
    w, h = float(det.bbox.size_x), float(det.bbox.size_y)
    return float(det.bbox.center.position.x) - w / 2.0, float(det.bbox.center.position.y) - h / 2.0, w, h


def detection_to_box(det, image_shape=None, min_px: float = 2.0) -> tuple:
    """vision_msgs/Detection2D -> (x, y, w, h) top-left box in pixels, validated.

    Raises BoxError for NaN/inf, absurd values, zero or negative size. With image_shape=(H, W, ...) the box
    is clipped to the image, and BoxError also covers boxes that miss the image or whose part inside it is
    under `min_px` on a side.
    """
    box = check_box(det.bbox.center.position.x, det.bbox.center.position.y, det.bbox.size_x, det.bbox.size_y)
    return box if image_shape is None else fit_box(box, image_shape, min_px)


def detector_boxes(msg) -> tuple:
    """A detector's vision_msgs/Detection2DArray -> ([detector_init.Detection], [BoxError]): each usable
    box with its hypotheses (results[i].hypothesis class_id and score), and why the others are not."""
    from rman_ros.ros.detector_init import Detection

    found, bad = [], []
    for det in msg.detections:
        try:
            box = detection_to_box(det)
        except BoxError as exc:
            bad.append(exc)
            continue
        found.append(Detection(box, tuple((str(r.hypothesis.class_id), float(r.hypothesis.score))
                                          for r in det.results)))
    return found, bad


def _set_bbox(det, box) -> None:
    cx, cy, w, h = box_center(box)
    det.bbox.center.position.x, det.bbox.center.position.y = cx, cy
    det.bbox.center.theta = 0.0
    det.bbox.size_x, det.bbox.size_y = w, h


def box_to_detection(box, header, track_id: int, label: str, score: float, det_cls=None):
    """(x, y, w, h) -> vision_msgs/Detection2D carrying `header`, id, label and score."""
    if det_cls is None:
        from vision_msgs.msg import Detection2D as det_cls
    from vision_msgs.msg import ObjectHypothesisWithPose

    det = det_cls()
    det.header = header
    _set_bbox(det, box)
    det.id = str(track_id)
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = label
    hyp.hypothesis.score = float(min(1.0, max(0.0, score)))
    det.results.append(hyp)
    return det


def result_to_array(header, box, track_id: int, label: str, score: float):
    """One tracking result -> vision_msgs/Detection2DArray under the image's `header`: one Detection2D for a
    box, none without one (lost, idle, under the score threshold)."""
    from vision_msgs.msg import Detection2DArray

    out = Detection2DArray()
    out.header = header
    if box is not None:
        out.detections.append(box_to_detection(box, header, track_id, label, score))
    return out


def make_init_detection(box, header):
    """(x, y, w, h) -> stamped vision_msgs/Detection2D suitable for the node's `init` topic."""
    from vision_msgs.msg import Detection2D

    det = Detection2D()
    det.header = header
    _set_bbox(det, box)
    return det
