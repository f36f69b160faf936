"""Follower lifecycle node (`follow_node`, default name `rman_follower`).

Turns the tracker's `detections` and the camera's `camera_info` into `cmd_vel` (yaw towards the target,
forward to keep a distance) and `target_pose` (the target in the camera optical frame). The maths is
rman_ros.follow.controller; this module is ROS glue only.

Safety: cmd_vel is published on a steady-clock timer at `cmd_rate` and is zero while the target is lost
(an empty array, or no array for `lost_timeout`), while no camera_info has arrived, while commanding is
disabled through `~/enable`, and on deactivate, shutdown and exit (SIGINT / SIGTERM). A second timer,
re-armed by every detection array, sends the zero exactly `lost_timeout` after the last one instead of
at the next `cmd_rate` tick.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Optional

import rclpy
from geometry_msgs.msg import PoseStamped, Twist
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo
from std_srvs.srv import SetBool
from vision_msgs.msg import Detection2DArray

from rman_ros.bag.launcher import stop_signals_as_keyboard_interrupt
from rman_ros.follow import messages
from rman_ros.follow.controller import STOP, control
from rman_ros.follow.params import FOLLOW_PARAMS, NODE_NAME, gains_from_values
from rman_ros.follow.pinhole import Intrinsics
from rman_ros.follow.tf_bridge import make_tf_bridge
from rman_ros.ros.params import check_value, descriptor

WARN_THROTTLE_S = 2.0
STALE_EPS_S = 1e-3  # the lost-deadline timer fires `lost_timeout` after the array, give or take clock jitter
# inputs may come from best-effort cameras and detectors: a best-effort subscription matches both kinds
INPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)


class FollowerNode(LifecycleNode):
    """Lifecycle node: parameters are declared at construction, read on configure (publishers, the
    `~/enable` service); activate subscribes and starts the cmd_vel timer; deactivate sends a zero
    command and stops both."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._specs = {s.name: s for s in FOLLOW_PARAMS}
        for spec in FOLLOW_PARAMS:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._lock = threading.Lock()
        self._values: dict = {}  # parameter values in use (replaced as a whole on a change)
        self._gains = None
        self._cam: Optional[Intrinsics] = None
        self._cam_frame = ""
        self._last_array_at: Optional[float] = None  # time.monotonic() of the last detection array
        self._output = None  # FollowOutput of the last array; None when it held no usable target
        self._enabled = True
        self._active = False
        self._reason = "inactive"  # why the last command was what it was (logged on change)
        self._warned_at: dict = {}

        self._pub_cmd = None
        self._pub_pose = None
        self._srv_enable = None
        self._sub_det = None
        self._sub_info = None
        self._timer = None
        self._lost_timer = None
        self._tf = None

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._read_parameters()
        except ValueError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._pub_cmd = self.create_publisher(Twist, "cmd_vel", 10)
        self._pub_pose = self.create_publisher(PoseStamped, "target_pose", 10)
        self._srv_enable = self.create_service(SetBool, "~/enable", self._on_enable)
        self._tf, warning = make_tf_bridge(self, self._values["publish_tf"], self._values["base_frame"])
        if warning:
            self.get_logger().warning(warning)
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        with self._lock:
            self._last_array_at = None
            self._output = None
            self._active = True
        self._sub_det = self.create_subscription(Detection2DArray, "detections", self._on_detections, INPUT_QOS)
        self._sub_info = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, INPUT_QOS)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = self.create_timer(1.0 / self._values["cmd_rate"], self._on_timer, clock=steady)
        self._lost_timer = self.create_timer(self._values["lost_timeout"], self._on_lost_deadline, clock=steady)
        self.get_logger().info(f"active: cmd_vel at {self._values['cmd_rate']} Hz on "
                               f"'{self._pub_cmd.topic_name}', detections from '{self._sub_det.topic_name}'")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._release_runtime()
        self.get_logger().info("deactivated: zero command sent")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release_runtime()
        self._release_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._release_runtime()
        self._release_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self._release_runtime()
        return TransitionCallbackReturn.SUCCESS

    def stop(self, ack_timeout: float = 0.5) -> None:
        """Send a zero command (if active) and stop commanding; waits up to `ack_timeout` s for reliable
        subscribers to acknowledge it. Idempotent; used by main() on exit."""
        pub = self._pub_cmd
        self._release_runtime()
        if pub is not None and ack_timeout > 0:
            pub.wait_for_all_acked(Duration(seconds=ack_timeout))

    def _release_runtime(self) -> None:
        with self._lock:
            was_active, self._active = self._active, False
            self._output = None
            self._reason = "inactive"
        for timer in (self._timer, self._lost_timer):
            if timer is not None:
                self.destroy_timer(timer)
        for sub in (self._sub_det, self._sub_info):
            if sub is not None:
                self.destroy_subscription(sub)
        self._timer = self._lost_timer = self._sub_det = self._sub_info = None
        if was_active and self._pub_cmd is not None:
            self._pub_cmd.publish(messages.twist(STOP))

    def _release_interfaces(self) -> None:
        if self._tf is not None:
            self._tf.close()
        if self._srv_enable is not None:
            self.destroy_service(self._srv_enable)
        for pub in (self._pub_cmd, self._pub_pose):
            if pub is not None:
                self.destroy_publisher(pub)
        self._tf = self._srv_enable = self._pub_cmd = self._pub_pose = None

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> None:
        values = {}
        for name, spec in self._specs.items():
            value = self.get_parameter(name).value
            err = check_value(spec, value)
            if err:
                raise ValueError(err)
            values[name] = value
        gains = gains_from_values(values)
        with self._lock:
            self._values, self._gains = values, gains

    def _on_set_parameters(self, params) -> SetParametersResult:
        with self._lock:
            values = dict(self._values)
        changed = False
        for p in params:
            spec = self._specs.get(p.name)
            if spec is None:
                continue
            err = check_value(spec, p.value)
            if err:
                return SetParametersResult(successful=False, reason=err)
            values[p.name] = float(p.value) if isinstance(spec.default, float) else p.value
            changed = True
        if not changed or not self._values:  # nothing of ours, or not configured yet (read on configure)
            return SetParametersResult(successful=True)
        try:
            gains = gains_from_values(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        with self._lock:
            self._values, self._gains = values, gains
        lost_timer = self._lost_timer
        if lost_timer is not None:
            lost_timer.timer_period_ns = int(values["lost_timeout"] * 1e9)
        names = [p.name for p in params if p.name in self._specs]
        self.get_logger().info(f"parameters changed: {', '.join(f'{n}={values[n]}' for n in names)}")
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ callbacks
    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(kind, -1e9) >= WARN_THROTTLE_S:
            self._warned_at[kind] = now
            self.get_logger().warning(message)

    def _guarded(self, what: str, fn, *args):
        """Run a callback body; log anything it raises instead of taking the process down."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - a callback must never end the node
            self._warn(f"internal_{what}", f"{what} failed: {type(exc).__name__}: {exc}")
            self.get_logger().debug(traceback.format_exc())
            return None

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._guarded("camera_info", self._handle_camera_info, msg)

    def _handle_camera_info(self, msg: CameraInfo) -> None:
        try:
            cam = Intrinsics.from_k(list(msg.k))
        except ValueError as exc:
            self._warn("camera_info_invalid", f"camera_info ignored: {exc}")
            return
        with self._lock:
            first = self._cam is None
            self._cam, self._cam_frame = cam, msg.header.frame_id
        if first:
            self.get_logger().info(f"camera_info: fx={cam.fx:.1f} fy={cam.fy:.1f} cx={cam.cx:.1f} "
                                   f"cy={cam.cy:.1f} (frame '{msg.header.frame_id}')")

    def _on_detections(self, msg: Detection2DArray) -> None:
        self._guarded("detections", self._handle_detections, msg)

    def _handle_detections(self, msg: Detection2DArray) -> None:
        with self._lock:
            self._last_array_at = time.monotonic()
            self._output = None
            cam, gains, values = self._cam, self._gains, self._values
        lost_timer = self._lost_timer
        if lost_timer is not None:
            lost_timer.reset()
        target = messages.select_target(msg, values["min_score"])
        if target is None:
            return
        if cam is None:
            self._warn("no_camera_info", "detections received but no camera_info yet: zero command")
            return
        out = control(target.u, target.v, target.h, cam, gains)
        with self._lock:
            if self._active:
                self._output = out
        if out.position is None:
            self._warn("box_height", f"box height {target.h} px gives no distance: yaw only")
            return
        self._publish_pose(msg.header, out.position, cam_frame=self._cam_frame)

    def _publish_pose(self, header, position, cam_frame: str) -> None:
        pose = messages.pose_stamped(header, position)
        if not pose.header.frame_id:
            pose.header.frame_id = cam_frame
        if self._tf is not None:
            self._tf.broadcast(pose, self._values["target_frame"])
            try:
                pose = self._tf.to_base(pose)
            except LookupError as exc:
                self._warn("tf_lookup", f"target_pose not published: {exc}")
                return
        pub = self._pub_pose
        if pub is not None:
            pub.publish(pose)

    def _on_enable(self, request, response):
        with self._lock:
            self._enabled = bool(request.data)
        response.success = True
        response.message = "commanding enabled" if request.data else "commanding disabled: cmd_vel is zero"
        self.get_logger().info(response.message)
        if not request.data:
            self._guarded("timer", self._on_timer_body)  # the zero goes out now, not at the next tick
        return response

    def _on_timer(self) -> None:
        self._guarded("timer", self._on_timer_body)

    def _on_lost_deadline(self) -> None:
        """`lost_timeout` after the last detection array: stop now rather than at the next tick."""
        if self._reason == "following":
            self._guarded("timer", self._on_timer_body)

    def _on_timer_body(self) -> None:
        cmd, reason = self.current_command()
        if reason != self._reason:
            self._reason = reason
            self.get_logger().info(f"command: {reason}")
        pub = self._pub_cmd
        if pub is not None and self._timer is not None:
            pub.publish(messages.twist(cmd))

    def current_command(self) -> tuple:
        """(Command, reason): what the timer publishes now."""
        with self._lock:
            active, enabled, cam, output = self._active, self._enabled, self._cam, self._output
            last, timeout = self._last_array_at, self._values.get("lost_timeout", 0.0)
        if not active:
            return STOP, "inactive"
        if not enabled:
            return STOP, "disabled (~/enable): zero"
        if cam is None:
            return STOP, "no camera_info: zero"
        if last is None:
            return STOP, "no detections yet: zero"
        if time.monotonic() - last >= timeout - STALE_EPS_S:
            return STOP, f"no detections for {timeout} s: target lost, zero"
        if output is None:
            return STOP, "target lost (no detection in the array): zero"
        return output.command, "following"


def autostart(node: FollowerNode) -> Optional[bool]:
    """configure + activate when the `autostart` parameter is true. None: autostart is off;
    True: active; False: a transition failed (logged)."""
    if not node.get_parameter("autostart").value:
        node.get_logger().info("autostart=false: waiting for lifecycle transitions")
        return None
    for name, trigger in (("configure", node.trigger_configure), ("activate", node.trigger_activate)):
        if trigger() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().error(f"autostart: {name} failed")
            return False
    return True


def main(args=None) -> int:
    """`follow_node [--ros-args ...]`. Exit status 0 on SIGINT/SIGTERM, 1 when the node cannot start."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # own signal handling: rclpy's would shut the context down before the final zero command is sent
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop_signals_as_keyboard_interrupt()
    node = None
    code = 0
    try:
        node = FollowerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if autostart(node) is False:
            code = 1
        else:
            while rclpy.ok():
                executor.spin_once(timeout_sec=0.1)  # returns often, so Ctrl-C is seen promptly
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # noqa: BLE001 - e.g. a parameter of the wrong type in the params file
        print(f"[{NODE_NAME}] cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
