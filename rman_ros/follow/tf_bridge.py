"""Optional TF support of the follower (tf2_ros is not a hard dependency: without it, `publish_tf` and
`base_frame` only produce a warning)."""
from __future__ import annotations

import importlib.util
from typing import Optional, Tuple

from geometry_msgs.msg import TransformStamped

from rman_ros.follow.messages import pose_stamped
from rman_ros.follow.pinhole import transform_point


def tf2_available() -> bool:
    return importlib.util.find_spec("tf2_ros") is not None


def make_tf_bridge(node, publish_tf: bool, base_frame: str) -> Tuple[Optional["TfBridge"], Optional[str]]:
    """(bridge or None, warning or None). None and no warning when TF is not asked for."""
    if not publish_tf and not base_frame:
        return None, None
    if not tf2_available():
        wanted = " and ".join(x for x in ("publish_tf=true" if publish_tf else "",
                                          f"base_frame='{base_frame}'" if base_frame else "") if x)
        return None, (f"{wanted} needs tf2_ros, which is not installed: no TF is broadcast and "
                      "target_pose stays in the camera optical frame")
    return TfBridge(node, publish_tf, base_frame), None


class TfBridge:
    """Broadcasts the target frame and/or transforms target poses into `base_frame`."""

    def __init__(self, node, publish_tf: bool, base_frame: str):
        import tf2_ros

        self._tf2 = tf2_ros
        self.base_frame = base_frame
        self._broadcaster = tf2_ros.TransformBroadcaster(node) if publish_tf else None
        self._buffer = tf2_ros.Buffer() if base_frame else None
        self._listener = tf2_ros.TransformListener(self._buffer, node) if base_frame else None

    def to_base(self, pose):
        """`pose` (identity orientation, in its header's frame) expressed in base_frame. Raises
        LookupError when no transform is known (at the pose's stamp, nor a latest one)."""
        from rclpy.time import Time

        if self._buffer is None:
            return pose
        source = pose.header.frame_id
        try:
            tf = self._buffer.lookup_transform(self.base_frame, source, Time.from_msg(pose.header.stamp))
        except self._tf2.TransformException:
            try:
                tf = self._buffer.lookup_transform(self.base_frame, source, Time())
            except self._tf2.TransformException as exc:
                raise LookupError(f"no transform {source} -> {self.base_frame}: {exc}") from exc
        t, q = tf.transform.translation, tf.transform.rotation
        p = pose.pose.position
        position = transform_point((t.x, t.y, t.z), (q.x, q.y, q.z, q.w), (p.x, p.y, p.z))
        out = pose_stamped(pose.header, position, (q.x, q.y, q.z, q.w))  # identity turned by the tf
        out.header.frame_id = self.base_frame
        return out

    def broadcast(self, pose, child_frame: str) -> None:
        if self._broadcaster is None:
            return
        msg = TransformStamped()
        msg.header = pose.header
        msg.child_frame_id = child_frame
        p, o = pose.pose.position, pose.pose.orientation
        msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = p.x, p.y, p.z
        msg.transform.rotation = o
        self._broadcaster.sendTransform(msg)

    def close(self) -> None:
        if self._listener is not None:
            unregister = getattr(self._listener, "unregister", None)
            if unregister is not None:
                unregister()
        self._listener = self._buffer = self._broadcaster = None
