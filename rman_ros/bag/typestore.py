"""A rosbags typestore that knows vision_msgs 4.x (Humble/Jazzy/Kilted layout).

The definitions are embedded so the bag tools work on any machine (no vision_msgs source needed);
test_bag_typestore.py checks them against the interface package's .msg files when present.
"""
from __future__ import annotations

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

# Only the fields matter for the type hash; comments are left out on purpose.
VISION_MSGS_4 = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose":
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    "vision_msgs/msg/Detection2D":
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n",
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
DETECTION = "vision_msgs/msg/Detection2D"
DETECTION_ARRAY = "vision_msgs/msg/Detection2DArray"

_STORE = None


def typestore():
    """Kilted typestore plus vision_msgs 4.x (cached)."""
    global _STORE
    if _STORE is None:
        store = get_typestore(Stores.ROS2_KILTED)
        types = {}
        for name, text in VISION_MSGS_4.items():
            types.update(get_types_from_msg(text, name))
        store.register(types)
        _STORE = store
    return _STORE
