"""The follower's ROS parameters: one ParamSpec each (descriptor with description and range, built by
rman_ros.ros.params.descriptor), and their conversion to controller Gains."""
from __future__ import annotations

from rman_ros.follow.controller import Gains
from rman_ros.ros.params import ParamSpec

NODE_NAME = "rman_follower"

FOLLOW_PARAMS = [
    ParamSpec("target_height_m", 1.7, "real height of the target in metres (distance Z = fy * H / h)",
              range=(0.01, 100.0)),
    ParamSpec("desired_distance_m", 2.0, "distance to keep from the target in metres", range=(0.0, 100.0)),
    ParamSpec("k_yaw", 1.0, "yaw gain: angular.z = -k_yaw * bearing (rad/s per rad)", range=(0.0, 50.0)),
    ParamSpec("k_forward", 0.5, "forward gain: linear.x = k_forward * (Z - desired_distance_m) (1/s)",
              range=(0.0, 50.0)),
    ParamSpec("max_yaw_rate", 1.0, "saturation of |angular.z| in rad/s", range=(0.0, 10.0)),
    ParamSpec("max_forward_speed", 0.5, "saturation of linear.x in m/s", range=(0.0, 10.0)),
    ParamSpec("allow_reverse", False, "allow a negative linear.x when the target is closer than "
              "desired_distance_m (default: never drive backwards)"),
    ParamSpec("deadband_px", 10, "no yaw command while the box centre is within this many pixels of cx",
              range=(0, 10000)),
    ParamSpec("min_score", 0.0, "detections scoring below this are ignored; an array with no detection "
              "left means the target is lost", range=(0.0, 1.0)),
    ParamSpec("lost_timeout", 0.5, "seconds without a detection array after which the target is lost "
              "(zero command)", range=(0.01, 60.0)),
    ParamSpec("cmd_rate", 20.0, "rate of the cmd_vel timer in Hz", range=(0.1, 1000.0), read_only=True),
    ParamSpec("base_frame", "", "frame to publish target_pose in ('' = the camera optical frame); "
              "needs tf2_ros", read_only=True),
    ParamSpec("publish_tf", False, "broadcast the target as a TF frame (needs tf2_ros)", read_only=True),
    ParamSpec("target_frame", "target", "child frame id of the broadcast target TF", read_only=True),
    ParamSpec("autostart", True, "configure and activate the lifecycle node on start", read_only=True),
]

GAIN_NAMES = ("target_height_m", "desired_distance_m", "k_yaw", "k_forward", "max_yaw_rate",
              "max_forward_speed", "deadband_px", "allow_reverse")


def gains_from_values(values: dict) -> Gains:
    """Gains from {parameter name: value}; names it leaves out keep the parameter defaults."""
    defaults = {s.name: s.default for s in FOLLOW_PARAMS}
    kw = {name: values.get(name, defaults[name]) for name in GAIN_NAMES}
    kw["deadband_px"] = float(kw["deadband_px"])
    kw["allow_reverse"] = bool(kw["allow_reverse"])
    return Gains(**kw)
