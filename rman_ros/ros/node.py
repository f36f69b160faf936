"""RMAN tracker lifecycle node (`TrackerNode`, default name `rman_tracker`); started by tracker_node.main.

ROS wiring only. The tracking runs in rman_ros.ros.tracking_loop.TrackingLoop (the worker thread, init
matching and the track), detector-started tracks in rman_ros.ros.detector_init, and the tracker itself is
rman_ros.core.RMANTracker. This node reads the parameters on configure, loads the model on activate, turns
messages into the loop's inputs and the loop's results into messages, and publishes the diagnostics.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from rman_ros.core.config import RMANConfig
from rman_ros.core.runtime import check_device_name, resolve_device
from rman_ros.ros import conversions as conv
from rman_ros.ros import diagnostics as diag
from rman_ros.ros.detector_init import DetectorInit
from rman_ros.ros.params import (all_param_specs, check_value, declare_parameters, parameter_names,
                                 torch_threads)
from rman_ros.ros.tracking_loop import TrackingLoop, TrackResult
from rman_ros.ros.validation import BoxError, drawable_corners, image_too_large, normalise_stamp

NODE_NAME = "rman_tracker"


class TrackerNode(LifecycleNode):
    """Lifecycle node around RMANTracker. `tracker_factory(config)` is injectable for tests."""

    def __init__(self, node_name: str = NODE_NAME, tracker_factory=None, **kwargs):
        super().__init__(node_name, **kwargs)
        self._tracker_factory = tracker_factory
        self._specs = {s.name: s for s in all_param_specs(RMANConfig)}
        # {name: reason} of bad start-up values: configure fails while any is left
        self._startup_errors = declare_parameters(self, self._specs)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._problems = diag.Problems(self.get_logger())
        self._read: Optional[tuple] = None  # (RMANConfig, options) read by the last configure
        self.loop: Optional[TrackingLoop] = None  # made by configure
        self._detector: Optional[DetectorInit] = None
        self._cpu_threads: Optional[int] = None  # torch's thread count before any tracker changed it
        self._pub_lock = threading.Lock()  # the worker publishes; cleanup destroys the publishers
        self._pub_det = self._pub_debug = self._pub_diag = None
        self._subs: list = []
        self._srv_reset = None
        self._diag_timer = None

    @property
    def _config(self) -> Optional[RMANConfig]:
        """The tracker configuration in force: the loop's once configured, else the one last read."""
        if self.loop is not None:
            return self.loop.config
        return self._read[0] if self._read is not None else None

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            if self._startup_errors:
                raise ValueError("bad start-up parameter value(s): " + "; ".join(self._startup_errors.values()))
            self._read_parameters()
        except ValueError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        config, opts = self._read
        self.loop = TrackingLoop(config, opts, self._publish_result, self._problems, decode=self._decode,
                                 now_ns=lambda: self.get_clock().now().nanoseconds)
        self._detector = DetectorInit(self.loop)
        self._pub_det = self.create_lifecycle_publisher(Detection2DArray, "detections", 10)
        self._pub_debug = self.create_lifecycle_publisher(Image, "debug_image", 1)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)  # also while inactive
        self._srv_reset = self.create_service(Trigger, "~/reset", self._on_reset)
        self._diag_timer = self.create_timer(opts["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        try:
            return self._activate(state)
        except Exception:  # rclpy turns an exception into ERROR without a trace: log it first
            self._release_runtime(wait=True)
            if not self.context.ok():  # shut down (Ctrl-C) while activating: nothing went wrong
                return TransitionCallbackReturn.FAILURE
            self.get_logger().error(f"activate failed:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR

    def _activate(self, state) -> TransitionCallbackReturn:
        try:
            tracker, info = self._load_tracker()
        except (ValueError, RuntimeError, OSError, ImportError) as exc:
            self.get_logger().error(f"activate failed: cannot load the tracker: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.loop.start(tracker, info)  # the worker owns the tracker from here on
        result = super().on_activate(state)  # enables the lifecycle publishers
        if result != TransitionCallbackReturn.SUCCESS:
            self._release_runtime(wait=True)
            return result
        opts = self.loop.opts
        reliability = (ReliabilityPolicy.RELIABLE if opts["reliability"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        image_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=opts["image_depth"], reliability=reliability)
        # best effort: receives from reliable and best-effort detectors alike
        detector_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        image_type = CompressedImage if opts["use_compressed"] else Image
        self._subs = [
            self.create_subscription(image_type, "image", self._on_image, image_qos),
            self.create_subscription(Detection2D, "init", self._on_init, 10),
            self.create_subscription(Detection2DArray, "detector_detections", self._on_detector, detector_qos),
            self.create_subscription(PointStamped, "init_point", self._on_point, 10),
        ]
        self.get_logger().info(f"active: device={info['device']}, image QoS {opts['reliability']}, "
                               f"{image_type.__name__} on '{self._subs[0].topic_name}'")
        return result

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._release_runtime(wait=False)  # an init being trained is dropped by its worker, not waited for
        self.get_logger().info("deactivated")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release_runtime(wait=False)
        self._release_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._release_runtime(wait=True)
        self._release_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self._release_runtime(wait=False)
        return TransitionCallbackReturn.SUCCESS

    def shutdown_worker(self) -> None:
        """Stop the worker and close the tracker, waiting for them (idempotent); used by main() and tests."""
        self._release_runtime(wait=True)

    def _release_runtime(self, wait: bool) -> None:
        """Stop tracking (see TrackingLoop.stop) and drop the subscriptions."""
        if self.loop is not None:
            self.loop.stop(wait)
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []

    def _release_interfaces(self) -> None:
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        if self._srv_reset is not None:
            self.destroy_service(self._srv_reset)
        with self._pub_lock:  # the worker publishes under this lock
            for pub in (self._pub_det, self._pub_debug):
                if pub is not None:
                    self.destroy_lifecycle_publisher(pub)
            if self._pub_diag is not None:
                self.destroy_publisher(self._pub_diag)
            self._pub_det = self._pub_debug = self._pub_diag = None
        self._diag_timer = self._srv_reset = None

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> None:
        """Read and check every parameter (configure): ValueError naming the first bad one."""
        opts, cfg = {}, {}
        for name, spec in self._specs.items():
            value = self.get_parameter(name).value
            err = check_value(spec, value)
            if err:
                raise ValueError(err)
            if spec.config_field is not None:
                cfg[spec.config_field] = value
            else:
                opts[name] = value
        err = check_device_name(cfg["device"])
        if err:
            raise ValueError(err)
        try:
            config = RMANConfig.from_dict(cfg)
        except ValueError as exc:
            raise ValueError(parameter_names(str(exc), RMANConfig)) from exc
        self._read = (config, opts)

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes_cfg, changes_opt = {}, {}
        for p in params:
            if not p.name or not p.name.strip():  # rclpy lets an empty name through to here
                return SetParametersResult(successful=False, reason="empty parameter name")
            spec = self._specs.get(p.name)
            if spec is None:
                continue
            if spec.read_only:  # rclpy rejects these itself; keep the reason explicit
                return SetParametersResult(successful=False, reason=f"{p.name} is read-only")
            err = check_value(spec, p.value)
            if err:
                return SetParametersResult(successful=False, reason=err)
            value = float(p.value) if isinstance(spec.default, float) else p.value
            if spec.config_field is not None:
                changes_cfg[spec.config_field] = value
            else:
                changes_opt[p.name] = value
        if changes_cfg and self._config is not None:
            try:
                self._config.replace(**changes_cfg)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=parameter_names(str(exc), RMANConfig))
        for p in params:  # a start-up error is cleared by setting that parameter again
            self._startup_errors.pop(p.name, None)
        if (changes_cfg or changes_opt) and self.loop is not None:  # else configure reads them
            self.loop.set_params(changes_cfg, changes_opt)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ tracker
    def _load_tracker(self) -> tuple:
        """The tracker on the resolved device, and what the diagnostics say about it."""
        import torch

        config = self.loop.config
        device = str(resolve_device(config.device))  # ValueError: an unavailable CUDA device
        if config.device == "auto" and device == "cpu":
            self.get_logger().warning("device=auto: CUDA not available, falling back to CPU")
        factory = self._tracker_factory
        if factory is None:
            from rman_ros.core import RMANTracker as factory
        if self._cpu_threads is None:
            self._cpu_threads = torch.get_num_threads()
        threads = torch_threads(config.num_threads, device, config.update_mode, self._cpu_threads)
        t0 = time.monotonic()
        tracker = factory(config.replace(device=device, num_threads=threads))
        info = {"device": str(getattr(tracker, "device", device)),
                "matmul_backend": str(getattr(tracker, "matmul_backend", "unknown")), "torch_threads": threads}
        warm = ""
        try:
            if hasattr(tracker, "warm_up"):
                # the device's first use would otherwise land on the first init box: on a GPU its context and
                # library handles, on a CPU the one-off costs of the first training (about 1.7 s of a 2.6 s
                # first init on a 2-core CPU)
                warm = f", warm-up {tracker.warm_up():.2f} s"
        except BaseException:
            getattr(tracker, "close", lambda: None)()
            raise
        self.get_logger().info(f"tracker loaded on {info['device']} in {time.monotonic() - t0:.2f} s{warm} "
                               f"(backbone {config.backbone}, update_mode {config.update_mode}, "
                               f"float32 products: {info['matmul_backend']}, torch threads per thread: {threads})")
        return tracker, info

    def _decode(self, msg) -> np.ndarray:
        """The loop's image decoder: sensor_msgs Image or CompressedImage -> RGB (ImageError if unusable)."""
        if isinstance(msg, CompressedImage):
            rgb = conv.compressed_msg_to_rgb(msg)
            too_large = image_too_large(rgb.shape[1], rgb.shape[0], self.loop.opts["max_image_pixels"])
            if too_large:
                raise conv.ImageError("too_large", too_large)
            return rgb
        return conv.image_msg_to_rgb(msg)

    # ------------------------------------------------------------------ callbacks
    def report_callback_error(self, exc: BaseException) -> None:
        """An exception that escaped a callback into the executor (main's spin loop keeps serving)."""
        if self._problems.report(diag.ERROR, "callback_error", f"a callback raised {type(exc).__name__}: {exc}; "
                                                               "the node goes on"):
            self.get_logger().error("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def _stamp_ns(self, stamp, what: str) -> int:
        """A message stamp in ns, with nanosec >= 1e9 carried into sec (and a warning)."""
        before = f"{stamp.sec}.{stamp.nanosec:09d}"
        if normalise_stamp(stamp):
            self._problems.report(diag.WARN, "stamp_invalid", f"{what} stamp {before} has nanosec >= 1e9: read "
                                                              f"as {stamp.sec}.{stamp.nanosec:09d} s")
        return conv.stamp_to_ns(stamp)

    def _on_image(self, msg) -> None:
        loop = self.loop
        loop.stats.on_received()
        stamp_ns = self._stamp_ns(msg.header.stamp, "image")
        shape = None
        if isinstance(msg, Image):  # a compressed image's size is checked once it is decoded
            too_large = image_too_large(msg.width, msg.height, loop.opts["max_image_pixels"])
            if too_large:
                self._problems.report(diag.WARN, "image_too_large", too_large)
                return
            shape = (int(msg.height), int(msg.width))
        loop.push_frame(stamp_ns, msg.header, msg, shape)

    def _on_init(self, msg: Detection2D) -> None:
        stamp_ns = self._stamp_ns(msg.header.stamp, "init")
        try:
            box = conv.detection_to_box(msg)
        except BoxError as exc:
            self._problems.report(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
            return
        self.loop.request_init(box, stamp_ns)

    def _on_detector(self, msg: Detection2DArray) -> None:
        stamp_ns = self._stamp_ns(msg.header.stamp, "detector")
        detections, bad = conv.detector_boxes(msg)
        if bad:
            self._problems.report(diag.WARN, f"detector_box_{bad[0].kind}",
                                  f"{len(bad)} detector box(es) ignored: {bad[0]}")
        self._detector.on_detections(stamp_ns, detections)

    def _on_point(self, msg: PointStamped) -> None:
        stamp_ns = self._stamp_ns(msg.header.stamp, "init_point")
        try:
            self._detector.on_point(stamp_ns, msg.point.x, msg.point.y)
        except BoxError as exc:
            self._problems.report(diag.WARN, f"init_point_{exc.kind}", f"init_point ignored: {exc}")

    def _on_reset(self, request, response):
        response.success, response.message = True, self.loop.reset()
        return response

    # ------------------------------------------------------------------ output
    def _publish_result(self, result: TrackResult) -> None:
        """The loop's on_result (worker thread): detections, and debug_image while somebody subscribes."""
        label = self.loop.opts["label"]
        with self._pub_lock:
            det, dbg = self._pub_det, self._pub_debug
            if det is not None:
                det.publish(conv.result_to_array(result.header, result.box, result.track_id, label, result.score))
            if dbg is not None and dbg.get_subscription_count() > 0:
                image = annotate(result, label, int(self.loop.opts["debug_image_box_thickness"]))
                dbg.publish(conv.rgb_to_image_msg(image, result.header))

    def stats(self) -> dict:
        """Current statistics (also the diagnostics key/values)."""
        if self.loop is None:
            return {"state": "unconfigured", "device": "unloaded"}
        return {**self.loop.values(), "detector_arrays": self._detector.received}

    def _publish_diagnostics(self) -> None:
        values = self.stats()
        status = diag.build_status(f"{self.get_fully_qualified_name()}: tracker", values["device"], values,
                                   values["state"], self._problems.log.active())
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        with self._pub_lock:
            if self._pub_diag is not None:
                self._pub_diag.publish(arr)


def annotate(result: TrackResult, label: str, thickness: int) -> np.ndarray:
    """The debug image: the frame with the reported box, label, track id and score, or the state."""
    import cv2

    img = np.ascontiguousarray(result.rgb.copy())
    if result.box is not None:
        x1, y1, x2, y2 = drawable_corners(result.box, img.shape[1], img.shape[0])
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), thickness)
        cv2.putText(img, f"{label} #{result.track_id} {result.score:.2f}", (max(0, x1), max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1)
    else:
        cv2.putText(img, result.state, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 64, 64), 1)
    return img


def autostart(node: TrackerNode) -> bool:
    """configure + activate when the `autostart` parameter is true. Returns True when active. A failed
    transition has logged its reason (naming the parameter) already."""
    if not node.get_parameter("autostart").value:
        node.get_logger().info("autostart=false: waiting for lifecycle transitions")
        return False
    return (node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            and node.trigger_activate() == TransitionCallbackReturn.SUCCESS)
