"""Read a bag written by rman_ros.bag.record (or any bag with the same topics) into memory."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
from rosbags.rosbag2 import Reader

from rman_ros.bag import typestore as ts
from rman_ros.ros.conversions import detection_box, ns_to_stamp, stamp_to_ns


@dataclass
class BagFrame:
    stamp_ns: int
    frame_id: str
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


@dataclass
class BagSequence:
    frames: List[BagFrame] = field(default_factory=list)
    init_stamp_ns: Optional[int] = None
    init_box: Optional[tuple] = None
    gt: Optional[np.ndarray] = None  # (N, 4) aligned with frames; NaN rows where empty

    def __len__(self) -> int:
        return len(self.frames)


def read_bag(path, image_topic: str = "/image", init_topic: str = "/init",
             gt_topic: str = "/ground_truth", max_frames: Optional[int] = None) -> BagSequence:
    store = ts.typestore()
    out = BagSequence()
    gt_by_stamp = {}
    with Reader(Path(path)) as reader:
        topics = {c.topic for c in reader.connections}
        if image_topic not in topics:
            raise ValueError(f"{path}: no topic {image_topic} (has {sorted(topics)})")
        conns = [c for c in reader.connections if c.topic in (image_topic, init_topic, gt_topic)]
        for conn, _t, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == image_topic:
                if max_frames is not None and len(out.frames) >= max_frames:
                    continue
                out.frames.append(BagFrame(stamp_to_ns(msg.header.stamp), msg.header.frame_id, int(msg.height),
                                           int(msg.width), msg.encoding, int(msg.is_bigendian),
                                           int(msg.step), bytes(np.asarray(msg.data, dtype=np.uint8))))
            elif conn.topic == init_topic and out.init_box is None:
                out.init_stamp_ns, out.init_box = stamp_to_ns(msg.header.stamp), detection_box(msg)
            elif conn.topic == gt_topic:
                gt_by_stamp[stamp_to_ns(msg.header.stamp)] = detection_box(msg.detections[0]) if msg.detections else None
    if gt_by_stamp:
        rows = [gt_by_stamp.get(f.stamp_ns) for f in out.frames]
        out.gt = np.array([r if r is not None else (np.nan,) * 4 for r in rows], dtype=np.float64)
    return out


def to_ros_image(frame: BagFrame, stamp_ns: Optional[int] = None):
    """BagFrame -> rclpy sensor_msgs/Image (optionally re-stamped)."""
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header.stamp = ns_to_stamp(frame.stamp_ns if stamp_ns is None else stamp_ns)
    msg.header.frame_id = frame.frame_id
    msg.height, msg.width, msg.encoding = frame.height, frame.width, frame.encoding
    msg.is_bigendian, msg.step, msg.data = frame.is_bigendian, frame.step, frame.data
    return msg
