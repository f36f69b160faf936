"""Write a tracking sequence (OTB layout or a video file) into a rosbag2 MCAP directory.

Topics: `/image` (sensor_msgs/Image), `/init` (vision_msgs/Detection2D, once, stamped like frame 0)
and `/ground_truth` (vision_msgs/Detection2DArray, one per frame, empty where the gt is NaN).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from rman_ros.bag import typestore as ts
from rman_ros.ros.conversions import box_center, ns_to_stamp

DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000  # fixed, so recordings are reproducible
FRAME_ID = "camera"


def _header(store, t_ns: int, frame_id: str):
    Header = store.types["std_msgs/msg/Header"]
    return Header(stamp=ns_to_stamp(t_ns, store.types["builtin_interfaces/msg/Time"]), frame_id=frame_id)


def _image(store, rgb: np.ndarray, header, encoding: str):
    Image = store.types[ts.IMAGE]
    if encoding == "rgb8":
        out = rgb
    elif encoding == "bgr8":
        out = rgb[:, :, ::-1]
    else:
        raise ValueError(f"record: encoding must be rgb8 or bgr8, got {encoding}")
    out = np.ascontiguousarray(out)
    return Image(header=header, height=out.shape[0], width=out.shape[1], encoding=encoding,
                 is_bigendian=0, step=out.shape[1] * 3, data=out.reshape(-1))


def _detection(store, box, header, det_id: str = "", label: str = "", score: float = 1.0):
    T = store.types
    cx, cy, w, h = box_center(box)
    bbox = T["vision_msgs/msg/BoundingBox2D"](
        center=T["vision_msgs/msg/Pose2D"](position=T["vision_msgs/msg/Point2D"](x=cx, y=cy), theta=0.0),
        size_x=w, size_y=h)
    results = []
    if label:
        pose = T["geometry_msgs/msg/PoseWithCovariance"](
            pose=T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                                             orientation=T["geometry_msgs/msg/Quaternion"](
                                                 x=0.0, y=0.0, z=0.0, w=1.0)),
            covariance=np.zeros(36, dtype=np.float64))
        results.append(T["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=T["vision_msgs/msg/ObjectHypothesis"](class_id=label, score=float(score)), pose=pose))
    return T[ts.DETECTION](header=header, results=results, bbox=bbox, id=det_id)


def write_bag(out_bag, frames: Iterable[np.ndarray], init_box, gt: Optional[np.ndarray] = None,
              fps: float = 30.0, encoding: str = "rgb8", start_ns: int = DEFAULT_START_NS,
              frame_id: str = FRAME_ID) -> dict:
    """Write RGB `frames` into a new MCAP bag at `out_bag`. Returns a summary dict."""
    out_bag = Path(out_bag)
    if out_bag.exists():
        raise FileExistsError(f"{out_bag} exists; remove it or choose another name")
    store = ts.typestore()
    period_ns = int(round(1e9 / fps))
    n, size = 0, None
    with Writer(out_bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        c_img = writer.add_connection("/image", ts.IMAGE, typestore=store)
        c_init = writer.add_connection("/init", ts.DETECTION, typestore=store)
        c_gt = writer.add_connection("/ground_truth", ts.DETECTION_ARRAY, typestore=store)
        for i, rgb in enumerate(frames):
            t = start_ns + i * period_ns
            header = _header(store, t, frame_id)
            size = (int(rgb.shape[1]), int(rgb.shape[0]))
            writer.write(c_img, t, store.serialize_cdr(_image(store, rgb, header, encoding), ts.IMAGE))
            if i == 0:
                init = _detection(store, init_box, header)
                writer.write(c_init, t + 1, store.serialize_cdr(init, ts.DETECTION))
            if gt is not None:
                dets = []
                if i < len(gt) and all(math.isfinite(v) for v in gt[i]):
                    dets.append(_detection(store, gt[i], header, det_id="gt", label="ground_truth"))
                arr = store.types[ts.DETECTION_ARRAY](header=header, detections=dets)
                writer.write(c_gt, t + 2, store.serialize_cdr(arr, ts.DETECTION_ARRAY))
            n += 1
    return {"bag": str(out_bag), "frames": n, "size": size, "fps": fps}


def _scaled(frames, scale: float):
    import cv2

    for rgb in frames:
        if scale != 1.0:
            rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        yield rgb


def record_sequence(seq_dir, out_bag, fps: float = 30.0, max_frames: Optional[int] = None,
                    scale: float = 1.0, encoding: str = "rgb8") -> dict:
    """OTB-style sequence folder (img/ + groundtruth_rect.txt) -> bag."""
    from rman_ros.bench.datasets import load_sequence
    from rman_ros.io import read_image

    seq = load_sequence(seq_dir)
    paths = seq.frames[:max_frames] if max_frames else seq.frames
    gt = np.asarray(seq.gt[: len(paths)], dtype=np.float64) * scale
    frames = _scaled((read_image(p) for p in paths), scale)
    info = write_bag(out_bag, frames, gt[0], gt, fps=fps, encoding=encoding)
    info["sequence"] = seq.name
    return info


def read_video(path, max_frames: Optional[int] = None):
    """Decode a video file to a list of RGB frames (OpenCV/FFmpeg)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"cannot open video {path}")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise OSError(f"no frames decoded from {path}")
    return frames


def record_video(video, out_bag, init_box, fps: float = 30.0, max_frames: Optional[int] = None) -> dict:
    """Video file + an init box for frame 0 -> bag (no ground truth topic content)."""
    frames = read_video(video, max_frames)
    return write_bag(out_bag, frames, init_box, None, fps=fps)
