"""RMAN tracker lifecycle node (`tracker_node`, default name `rman_tracker`).

ROS glue only: the tracking itself is rman_ros.core.RMANTracker. Threading model: the subscription
callbacks only validate and store (latest image, pending init); a dedicated worker thread runs
initialize()/track() and publishes; online updates run in the core's background thread (async mode).
So init, reset, parameter and lifecycle callbacks stay responsive while a frame is processed.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from rman_ros.core.config import RMANConfig
from rman_ros.ros import conversions as conv
from rman_ros.ros import diagnostics as diag
from rman_ros.ros.frame_buffer import Frame, FrameBuffer
from rman_ros.ros.params import (all_param_specs, check_device, check_value, descriptor,
                                 resolve_device, torch_threads)

NODE_NAME = "rman_tracker"
INIT_WAIT_S = 1.0  # how long an init stamped after the newest image (or before any) waits for it


class TrackerNode(LifecycleNode):
    """Lifecycle node around RMANTracker. `tracker_factory(config)` is injectable for tests."""

    def __init__(self, node_name: str = NODE_NAME, tracker_factory=None, **kwargs):
        super().__init__(node_name, **kwargs)
        self._tracker_factory = tracker_factory
        self._specs = {s.name: s for s in all_param_specs(RMANConfig)}
        for spec in self._specs.values():
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._cond = threading.Condition()
        self._pending_frame: Optional[Frame] = None
        self._pending_init = None
        self._deferred_init = None  # (Detection2D, deadline): init newer than every buffered image
        self._pending_params: dict = {}
        self._stop = False
        self._worker: Optional[threading.Thread] = None
        self._tracker = None
        self._cpu_threads: Optional[int] = None  # torch's thread count before any tracker changed it
        self._config: Optional[RMANConfig] = None
        self._opts: dict = {}
        self._buffer: Optional[FrameBuffer] = None
        self._seq = 0

        # tracking state (written by the worker; reset/generation guarded by _cond)
        self._tracking = False
        self._generation = 0
        self._track_id = 0
        self._track_shape = None
        self._last_score = float("nan")
        self._last_state = "idle"
        self._last_result: dict = {}
        self._last_update_error: Optional[str] = None
        self._device = "unloaded"
        self._matmul = "unloaded"  # the CPU library of the tracker's float32 products (mkl / onednn)
        self._threads = 0  # torch intra-op threads per thread given to the tracker (0: not loaded)

        # statistics
        self._in_rate = diag.RateMeter()
        self._proc_rate = diag.RateMeter()
        self._latency = diag.WindowStats()
        self._proc_time = diag.WindowStats()
        self._stage_time: dict = {}  # stage of the tracker's `timings` -> WindowStats: where its time goes
        self._problems = diag.ProblemLog()
        self._warned_at: dict = {}
        self._n_received = 0
        self._n_processed = 0
        self._n_dropped = 0
        self._n_published = 0

        self._pub_det = None
        self._pub_debug = None
        self._pub_diag = None
        self._sub_image = None
        self._sub_init = None
        self._srv_reset = None
        self._diag_timer = None

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._read_parameters()
        except ValueError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._buffer = FrameBuffer(self._opts["buffer_size"])
        self._pub_det = self.create_publisher(Detection2DArray, "detections", 10)
        self._pub_debug = self.create_publisher(Image, "debug_image", 1)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._srv_reset = self.create_service(Trigger, "~/reset", self._on_reset)
        self._diag_timer = self.create_timer(self._opts["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        try:
            return self._activate(state)
        except Exception:  # rclpy turns an exception into ERROR without a trace: log it first
            self.get_logger().error(f"activate failed:\n{traceback.format_exc()}")
            self._release_runtime()
            return TransitionCallbackReturn.ERROR

    def _activate(self, state) -> TransitionCallbackReturn:
        try:
            self._load_tracker()
        except (ValueError, RuntimeError, OSError, ImportError) as exc:
            self.get_logger().error(f"activate failed: cannot load the tracker: {exc}")
            return TransitionCallbackReturn.FAILURE
        reliability = (ReliabilityPolicy.RELIABLE if self._opts["reliability"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._opts["image_depth"],
                         reliability=reliability)
        msg_type = CompressedImage if self._opts["use_compressed"] else Image
        self._sub_image = self.create_subscription(msg_type, "image", self._on_image, qos)
        self._sub_init = self.create_subscription(Detection2D, "init", self._on_init, 10)
        self._stop = False
        self._worker = threading.Thread(target=self._worker_loop, name="rman_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"active: device={self._device}, image QoS {self._opts['reliability']}, "
                               f"{msg_type.__name__} on '{self._sub_image.topic_name}'")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._release_runtime()
        self.get_logger().info("deactivated")
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

    def shutdown_worker(self) -> None:
        """Stop the worker and the tracker (idempotent); used by main() and tests."""
        self._release_runtime()

    def _release_runtime(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=30.0)
        self._worker = None
        for sub in (self._sub_image, self._sub_init):
            if sub is not None:
                self.destroy_subscription(sub)
        self._sub_image = self._sub_init = None
        if self._tracker is not None:
            close = getattr(self._tracker, "close", None)
            if close is not None:
                close()
            self._tracker = None
            self._free_device_memory()
        with self._cond:
            self._tracking = False
            self._last_state = "idle"

    def _release_interfaces(self) -> None:
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        if self._srv_reset is not None:
            self.destroy_service(self._srv_reset)
        for pub in (self._pub_det, self._pub_debug, self._pub_diag):
            if pub is not None:
                self.destroy_publisher(pub)
        self._diag_timer = self._srv_reset = self._pub_det = self._pub_debug = self._pub_diag = None

    def _free_device_memory(self) -> None:
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        self._device = "unloaded"
        self._matmul = "unloaded"
        self._threads = 0

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> None:
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
        err = check_device(cfg["device"])
        if err:
            raise ValueError(err)
        self._config = RMANConfig.from_dict(cfg)
        self._opts = opts

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes_cfg, changes_opt = {}, {}
        for p in params:
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
                return SetParametersResult(successful=False, reason=str(exc))
        if changes_cfg or changes_opt:
            with self._cond:
                self._pending_params.update({("cfg", k): v for k, v in changes_cfg.items()})
                self._pending_params.update({("opt", k): v for k, v in changes_opt.items()})
                self._cond.notify_all()
        return SetParametersResult(successful=True)

    def _apply_pending_params(self, pending: dict) -> None:
        """Worker thread, between frames: apply validated runtime changes atomically."""
        cfg_changes = {k: v for (kind, k), v in pending.items() if kind == "cfg"}
        for (kind, k), v in pending.items():
            if kind == "opt":
                self._opts[k] = v
        if cfg_changes and self._config is not None:
            self._config = self._config.replace(**cfg_changes)
            if self._tracker is not None:
                apply_config(self._tracker, cfg_changes)
            self.get_logger().info(f"applied runtime parameters: {cfg_changes}")

    # ------------------------------------------------------------------ tracker
    def _load_tracker(self) -> None:
        import torch

        device, warning = resolve_device(self._config.device, torch.cuda.is_available(),
                                         torch.cuda.device_count())
        if warning:
            self.get_logger().warning(warning)
        factory = self._tracker_factory
        if factory is None:
            from rman_ros.core import RMANTracker as factory
        if self._cpu_threads is None:
            self._cpu_threads = torch.get_num_threads()
        threads = torch_threads(self._config.num_threads, device, self._config.update_mode, self._cpu_threads)
        t0 = time.monotonic()
        self._tracker = factory(self._config.replace(device=device, num_threads=threads))
        self._device = str(getattr(self._tracker, "device", device))
        self._matmul = str(getattr(self._tracker, "matmul_backend", "unknown"))
        self._threads = threads
        warm = ""
        if not self._device.startswith("cpu") and hasattr(self._tracker, "warm_up"):
            # a GPU's first use (context, library handles) would otherwise land on the first init box
            warm = f", warm-up {self._tracker.warm_up():.2f} s"
        self.get_logger().info(f"tracker loaded on {self._device} in {time.monotonic() - t0:.2f} s{warm} "
                               f"(backbone {self._config.backbone}, update_mode {self._config.update_mode}, "
                               f"float32 products: {self._matmul}, torch threads per thread: {threads})")

    # ------------------------------------------------------------------ callbacks
    def _problem(self, level: int, kind: str, message: str) -> None:
        """Record a bad-input/runtime problem (diagnostics) and log it, throttled per kind."""
        self._problems.report(level, kind, message)
        now = time.monotonic()
        if now - self._warned_at.get(kind, -1e9) >= self._opts.get("warn_throttle", 2.0):
            self._warned_at[kind] = now
            # two call sites: rclpy fixes a logging call site's severity on first use
            if level >= diag.ERROR:
                self.get_logger().error(f"[{kind}] {message}")
            else:
                self.get_logger().warning(f"[{kind}] {message}")

    def _on_image(self, msg) -> None:
        self._n_received += 1
        self._in_rate.tick()
        self._seq += 1
        frame = Frame(conv.stamp_to_ns(msg.header.stamp), msg.header, msg, self._seq)
        if not self._buffer.push(frame):
            self._problem(diag.WARN, "stamp_backwards",
                          "image stamp went backwards (looping bag / clock reset?): frame buffer cleared")
        with self._cond:
            if self._pending_frame is not None:
                self._n_dropped += 1
            self._pending_frame = frame
            self._cond.notify_all()
        self._check_deferred_init(frame.stamp_ns)

    def _on_init(self, msg: Detection2D) -> None:
        if self._buffer is None:
            return
        stamp_ns = conv.stamp_to_ns(msg.header.stamp)
        _, newest = self._buffer.span_ns()
        tol_ns = int(self._opts["init_stamp_tolerance"] * 1e9)
        if newest is None or (stamp_ns != 0 and stamp_ns > newest + tol_ns):
            # its image may still be on the way (topics are not ordered against each other): wait
            self._deferred_init = (msg, time.monotonic() + INIT_WAIT_S)
            return
        self._match_init(msg)

    def _match_init(self, msg: Detection2D) -> None:
        """Find the init's frame in the buffer, validate the box, queue it for the worker."""
        self._deferred_init = None
        if len(self._buffer) == 0:
            self._problem(diag.WARN, "init_before_image",
                          f"init received but no image within {INIT_WAIT_S} s; ignored")
            return
        stamp_ns = conv.stamp_to_ns(msg.header.stamp)
        if stamp_ns == 0:
            frame = self._buffer.latest()
        else:
            tol_ns = int(self._opts["init_stamp_tolerance"] * 1e9)
            frame = self._buffer.find(stamp_ns, tol_ns)
            if frame is None:
                lo, hi = self._buffer.span_ns()
                span = f"{lo * 1e-9:.3f}..{hi * 1e-9:.3f} s" if lo is not None else "empty"
                self._problem(diag.WARN, "init_stamp_not_buffered",
                              f"init stamp {stamp_ns * 1e-9:.3f} s matches no buffered frame within "
                              f"{self._opts['init_stamp_tolerance']} s (buffer: {span}); ignored")
                return
        try:
            box = conv.detection_to_box(msg, (frame.msg.height, frame.msg.width)
                                        if isinstance(frame.msg, Image) else None)
        except conv.BoxError as exc:
            self._problem(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
            return
        with self._cond:
            self._pending_init = (frame, box)
            self._cond.notify_all()

    def _check_deferred_init(self, newest_ns: Optional[int]) -> None:
        deferred = self._deferred_init
        if deferred is None:
            return
        msg, deadline = deferred
        tol_ns = int(self._opts["init_stamp_tolerance"] * 1e9)
        stamp_ns = conv.stamp_to_ns(msg.header.stamp)
        if (newest_ns is not None and (stamp_ns == 0 or newest_ns + tol_ns >= stamp_ns)) \
                or time.monotonic() > deadline:
            self._match_init(msg)

    def _on_reset(self, request, response):
        with self._cond:
            was = self._tracking or self._pending_init is not None
            self._pending_init = None
            self._deferred_init = None
            self._tracking = False
            self._generation += 1
            self._last_state = "idle"
        if was:
            response.success, response.message = True, f"track {self._track_id} stopped"
            self.get_logger().info(response.message)
        else:
            self._problem(diag.WARN, "reset_while_idle", "reset requested while not tracking")
            response.success, response.message = True, "already idle"
        return response

    # ------------------------------------------------------------------ worker
    def _worker_loop(self) -> None:
        while True:
            with self._cond:
                while (not self._stop and self._pending_frame is None and self._pending_init is None
                       and not self._pending_params):
                    self._cond.wait(timeout=0.5)
                if self._stop:
                    return
                init, self._pending_init = self._pending_init, None
                frame, self._pending_frame = self._pending_frame, None
                pending, self._pending_params = self._pending_params, {}
            try:
                if pending:
                    self._apply_pending_params(pending)
                if init is not None:
                    self._do_init(*init)
                    if frame is not None and frame.stamp_ns <= init[0].stamp_ns:
                        frame = None  # that frame's result was the init itself
                if frame is not None:
                    self._process(frame)
            except Exception as exc:  # noqa: BLE001 - the node must survive anything a frame causes
                self._problem(diag.ERROR, "internal", f"{type(exc).__name__}: {exc}")
                self.get_logger().error(traceback.format_exc())

    def _to_rgb(self, msg) -> np.ndarray:
        if isinstance(msg, CompressedImage):
            return conv.compressed_msg_to_rgb(msg)
        return conv.image_msg_to_rgb(msg)

    def _do_init(self, frame: Frame, box) -> None:
        try:
            rgb = self._to_rgb(frame.msg)
            conv.detection_to_box(conv.make_init_detection(box, frame.header), rgb.shape)
        except conv.ImageError as exc:
            self._problem(diag.WARN, f"image_{exc.kind}", f"init frame unusable: {exc}; init ignored")
            return
        except conv.BoxError as exc:
            self._problem(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
            return
        t0 = time.monotonic()
        try:
            self._tracker.initialize(rgb, tuple(box))
        except ValueError as exc:
            self._problem(diag.WARN, "init_rejected", f"tracker rejected the init: {exc}")
            return
        with self._cond:
            self._track_id += 1
            self._tracking = True
            self._track_shape = rgb.shape[:2]
            self._last_state = "tracking"
            self._last_score = 1.0
            self._last_update_error = None
        self.get_logger().info(f"track {self._track_id} initialised at {tuple(round(v, 1) for v in box)} "
                               f"in {time.monotonic() - t0:.2f} s")
        self._publish(frame.header, box, 1.0, rgb)

    def _process(self, frame: Frame) -> None:
        t0 = time.monotonic()
        try:
            rgb = self._to_rgb(frame.msg)
        except conv.ImageError as exc:
            self._problem(diag.WARN, f"image_{exc.kind}", f"image dropped: {exc}")
            return
        with self._cond:
            tracking, generation = self._tracking, self._generation
        box, score = None, 0.0
        if tracking and tuple(rgb.shape[:2]) != tuple(self._track_shape):
            self._problem(diag.WARN, "image_size_changed",
                          f"image size changed from {self._track_shape[1]}x{self._track_shape[0]} to "
                          f"{rgb.shape[1]}x{rgb.shape[0]} mid-track: track {self._track_id} dropped, "
                          "send a new init")
            with self._cond:
                if self._generation == generation:
                    self._tracking = False
                    self._last_state = "idle"
            tracking = False
        if tracking:
            try:
                res = self._tracker.track(rgb)
            except ValueError as exc:
                self._problem(diag.WARN, "track_rejected", f"tracker rejected the frame: {exc}")
                return
            self._last_result = res
            for k, seconds in res.get("timings", {}).items():
                if k != "total":  # the process time covers it
                    self._stage_time.setdefault(k, diag.WindowStats()).add(seconds)
            err = res.get("update_error")
            if err and err != self._last_update_error:
                self._problem(diag.ERROR, "update_error", "online update failed, tracking continues with the "
                                                          f"last good weights: {_last_line(err)}")
                self.get_logger().error(f"online update traceback:\n{err}")
            self._last_update_error = err
            with self._cond:
                if self._generation != generation:  # reset / re-init while this frame was tracked
                    tracking = False
                else:
                    self._last_score = float(res["score"])
                    self._last_state = res["state"]
            if tracking and res["state"] == "tracking" and res["score"] >= self._opts["score_threshold"]:
                box, score = res["box"], float(res["score"])
        self._publish(frame.header, box, score, rgb)
        self._n_processed += 1
        self._proc_rate.tick()
        self._proc_time.add(time.monotonic() - t0)
        lat_ns = self.get_clock().now().nanoseconds - frame.stamp_ns
        self._latency.add(lat_ns * 1e-9)

    def _publish(self, header, box, score: float, rgb: np.ndarray) -> None:
        out = Detection2DArray()
        out.header = header
        if box is not None:
            out.detections.append(conv.box_to_detection(box, header, self._track_id,
                                                        self._opts["label"], score))
        pub = self._pub_det
        if pub is not None:
            pub.publish(out)
            self._n_published += 1
        dbg = self._pub_debug
        if dbg is not None and dbg.get_subscription_count() > 0:
            dbg.publish(conv.rgb_to_image_msg(self._annotate(rgb, box, score), header))

    def _annotate(self, rgb: np.ndarray, box, score: float) -> np.ndarray:
        import cv2

        img = np.ascontiguousarray(rgb.copy())
        if box is not None:
            x, y, w, h = (int(round(v)) for v in box)
            t = int(self._opts["debug_image_box_thickness"])
            cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), t)
            cv2.putText(img, f"{self._opts['label']} #{self._track_id} {score:.2f}", (x, max(12, y - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1)
        else:
            cv2.putText(img, self._last_state, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 64, 64), 1)
        return img

    # ------------------------------------------------------------------ diagnostics
    def stats(self) -> dict:
        """Current statistics (also the diagnostics key/values)."""
        lat = self._latency.summary()
        proc = self._proc_time.summary()
        res = self._last_result
        with self._cond:
            state = self._last_state if self._tracker is not None else "inactive"
            if self._tracker is not None and not self._tracking:
                state = "idle"
        values = {
            "state": state,
            "track_id": self._track_id,
            "score": self._last_score,
            "device": self._device,
            "matmul_backend": self._matmul,
            "torch_threads": self._threads,
            "input_rate_hz": self._in_rate.rate(),
            "processed_rate_hz": self._proc_rate.rate(),
            "latency_ms_p50": lat["p50"] * 1e3,
            "latency_ms_p95": lat["p95"] * 1e3,
            "latency_ms_max": lat["max"] * 1e3,
            "process_ms_mean": proc["mean"] * 1e3,
            "frames_received": self._n_received,
            "frames_processed": self._n_processed,
            "frames_dropped": self._n_dropped,
            "updates_done": res.get("updates_done", 0),
            "memory_bootstrap": bool(res.get("bootstrapping", False)),
            "last_update_s": res.get("last_update_s"),
            "update_error": _last_line(res.get("update_error")),
        }
        for k, stats in list(self._stage_time.items()):  # mean over the last tracked frames
            values[f"stage_ms_mean.{k}"] = stats.summary()["mean"] * 1e3
        for kind, n in sorted(self._problems.snapshot().items()):
            values[f"problem_count.{kind}"] = n
        return values

    def _publish_diagnostics(self) -> None:
        self._check_deferred_init(None)  # expire an init whose image never came
        values = self.stats()
        status = diag.build_status(f"{self.get_fully_qualified_name()}: tracker", values["device"], values,
                                   values["state"], self._problems.active())
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        if self._pub_diag is not None:
            self._pub_diag.publish(arr)


def _last_line(text: Optional[str]) -> Optional[str]:
    """The exception line of a traceback string (diagnostics values stay one line)."""
    if not text:
        return None
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else None


def apply_config(tracker, changes: dict) -> None:
    """Hand a runtime config change to the tracker (called between frames). `changes` only names
    runtime fields (the others are read-only parameters), so set_config accepts it. They are applied to
    the tracker's own config, whose device and thread count were resolved at load time (`auto`, 0) and
    so differ from the node's parameters."""
    tracker.set_config(tracker.cfg.replace(**changes))


def autostart(node: TrackerNode) -> bool:
    """configure + activate when the `autostart` parameter is true. Returns True when active."""
    if not node.get_parameter("autostart").value:
        node.get_logger().info("autostart=false: waiting for lifecycle transitions")
        return False
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("autostart: configure failed")
        return False
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("autostart: activate failed")
        return False
    return True


def main(args=None) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init(args=args)
    node = TrackerNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        autostart(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown_worker()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
