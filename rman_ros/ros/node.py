"""RMAN tracker lifecycle node (`TrackerNode`, default name `rman_tracker`); started by tracker_node.main.

ROS glue only: the tracking itself is rman_ros.core.RMANTracker. Threading model: the subscription
callbacks only validate and store (latest image, pending init); a dedicated worker thread per activation
owns the tracker, runs initialize()/track() and publishes; online updates run in the core's background
thread (async mode). So init, reset, parameter and lifecycle callbacks never wait for a frame or an init.
Every result is published under the node's lock after checking that no reset, re-init or deactivation came
in the meantime: the later command always wins.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
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
from rman_ros.ros.frame_buffer import Frame, FrameBuffer
from rman_ros.ros.init_matcher import NEAREST, NEXT, WAIT, WaitingInit, match_init
from rman_ros.ros.params import (all_param_specs, check_value, declare_parameters, parameter_names,
                                 torch_threads)
from rman_ros.ros.validation import BoxError, drawable_corners, fit_box, image_too_large, normalise_stamp

NODE_NAME = "rman_tracker"
INIT_WAIT_S = 1.0  # how long an init stamped after the newest image (or before any) waits for its image
INIT_POLL_S = 0.1  # period of the timer that gives a waiting init its fallback once it has waited


class _Runtime:
    """One activation: the tracker and the worker thread that owns it. `stop` tells the worker to drop
    whatever it is doing, close the tracker and exit."""

    def __init__(self, tracker, device: str):
        self.tracker = tracker
        self.device = device
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def close(self) -> None:
        close = getattr(self.tracker, "close", None)
        if close is not None:
            close()
        self.tracker = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


class TrackerNode(LifecycleNode):
    """Lifecycle node around RMANTracker. `tracker_factory(config)` is injectable for tests."""

    def __init__(self, node_name: str = NODE_NAME, tracker_factory=None, **kwargs):
        super().__init__(node_name, **kwargs)
        self._tracker_factory = tracker_factory
        self._specs = {s.name: s for s in all_param_specs(RMANConfig)}
        # {name: reason} of bad start-up values: configure fails while any is left
        self._startup_errors = declare_parameters(self, self._specs)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._cond = threading.Condition()  # an RLock inside: results are published while holding it
        self._pending_frame: Optional[Frame] = None
        self._pending_init = None  # (Frame, box): queued for the worker
        self._waiting_init: Optional[WaitingInit] = None  # an init that has no frame yet
        self._init_running = False  # the worker is inside an init
        self._pending_params: dict = {}
        self._rt: Optional[_Runtime] = None
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
        self._init_timer = None

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            if self._startup_errors:
                raise ValueError("bad start-up parameter value(s): " + "; ".join(self._startup_errors.values()))
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
        # steady: an init's fallback must come under use_sim_time too, when no /clock or image arrives
        self._init_timer = self.create_timer(INIT_POLL_S, self._resolve_init,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))
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
            rt = self._load_tracker()
        except (ValueError, RuntimeError, OSError, ImportError) as exc:
            self.get_logger().error(f"activate failed: cannot load the tracker: {exc}")
            return TransitionCallbackReturn.FAILURE
        with self._cond:
            self._rt, self._tracker = rt, rt.tracker
        reliability = (ReliabilityPolicy.RELIABLE if self._opts["reliability"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._opts["image_depth"],
                         reliability=reliability)
        msg_type = CompressedImage if self._opts["use_compressed"] else Image
        self._sub_image = self.create_subscription(msg_type, "image", self._on_image, qos)
        self._sub_init = self.create_subscription(Detection2D, "init", self._on_init, 10)
        rt.thread = threading.Thread(target=self._worker_loop, args=(rt,), name="rman_worker", daemon=True)
        rt.thread.start()
        self.get_logger().info(f"active: device={self._device}, image QoS {self._opts['reliability']}, "
                               f"{msg_type.__name__} on '{self._sub_image.topic_name}'")
        return super().on_activate(state)

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
        """Stop tracking. The worker is told to stop: it drops its current frame or init, closes its tracker
        and exits. With `wait` this waits for it; without, a worker inside an init finishes on its own."""
        with self._cond:
            rt, self._rt, self._tracker = self._rt, None, None
            if rt is not None:
                rt.stop.set()
            self._pending_frame = self._pending_init = self._waiting_init = None
            self._tracking = False
            self._generation += 1
            self._last_state = "idle"
            self._cond.notify_all()
        for sub in (self._sub_image, self._sub_init):
            if sub is not None:
                self.destroy_subscription(sub)
        self._sub_image = self._sub_init = None
        if rt is not None:
            if rt.thread is None:  # activation failed before the worker started
                rt.close()
            elif wait and rt.thread is not threading.current_thread():
                rt.thread.join(timeout=30.0)
        self._device, self._matmul, self._threads = "unloaded", "unloaded", 0

    def _release_interfaces(self) -> None:
        for timer in (self._diag_timer, self._init_timer):
            if timer is not None:
                self.destroy_timer(timer)
        if self._srv_reset is not None:
            self.destroy_service(self._srv_reset)
        with self._cond:  # a worker publishes under this lock
            for pub in (self._pub_det, self._pub_debug, self._pub_diag):
                if pub is not None:
                    self.destroy_publisher(pub)
            self._pub_det = self._pub_debug = self._pub_diag = None
        self._diag_timer = self._init_timer = self._srv_reset = None

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
        err = check_device_name(cfg["device"])
        if err:
            raise ValueError(err)
        try:
            self._config = RMANConfig.from_dict(cfg)
        except ValueError as exc:
            raise ValueError(parameter_names(str(exc), RMANConfig)) from exc
        self._opts = opts

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
        if changes_cfg or changes_opt:
            with self._cond:
                self._pending_params.update({("cfg", k): v for k, v in changes_cfg.items()})
                self._pending_params.update({("opt", k): v for k, v in changes_opt.items()})
                self._cond.notify_all()
        return SetParametersResult(successful=True)

    def _apply_pending_params(self, pending: dict, tracker) -> None:
        """Worker thread, between frames: apply validated runtime changes atomically."""
        cfg_changes = {k: v for (kind, k), v in pending.items() if kind == "cfg"}
        for (kind, k), v in pending.items():
            if kind == "opt":
                self._opts[k] = v
        if cfg_changes and self._config is not None:
            self._config = self._config.replace(**cfg_changes)
            if tracker is not None:
                apply_config(tracker, cfg_changes)
            self.get_logger().info(f"applied runtime parameters: {cfg_changes}")

    # ------------------------------------------------------------------ tracker
    def _load_tracker(self) -> _Runtime:
        import torch

        device = str(resolve_device(self._config.device))  # ValueError: an unavailable CUDA device
        if self._config.device == "auto" and device == "cpu":
            self.get_logger().warning("device=auto: CUDA not available, falling back to CPU")
        factory = self._tracker_factory
        if factory is None:
            from rman_ros.core import RMANTracker as factory
        if self._cpu_threads is None:
            self._cpu_threads = torch.get_num_threads()
        threads = torch_threads(self._config.num_threads, device, self._config.update_mode, self._cpu_threads)
        t0 = time.monotonic()
        tracker = factory(self._config.replace(device=device, num_threads=threads))
        rt = _Runtime(tracker, str(getattr(tracker, "device", device)))
        self._device = rt.device
        self._matmul = str(getattr(tracker, "matmul_backend", "unknown"))
        self._threads = threads
        warm = ""
        if not self._device.startswith("cpu") and hasattr(tracker, "warm_up"):
            # a GPU's first use (context, library handles) would otherwise land on the first init box
            warm = f", warm-up {tracker.warm_up():.2f} s"
        self.get_logger().info(f"tracker loaded on {self._device} in {time.monotonic() - t0:.2f} s{warm} "
                               f"(backbone {self._config.backbone}, update_mode {self._config.update_mode}, "
                               f"float32 products: {self._matmul}, torch threads per thread: {threads})")
        return rt

    # ------------------------------------------------------------------ callbacks
    def _problem(self, level: int, kind: str, message: str) -> bool:
        """Record a bad-input/runtime problem (diagnostics) and log it, throttled per kind. True if logged."""
        self._problems.report(level, kind, message)
        now = time.monotonic()
        if now - self._warned_at.get(kind, -1e9) < self._opts.get("warn_throttle", 2.0):
            return False
        self._warned_at[kind] = now
        # two call sites: rclpy fixes a logging call site's severity on first use
        if level >= diag.ERROR:
            self.get_logger().error(f"[{kind}] {message}")
        else:
            self.get_logger().warning(f"[{kind}] {message}")
        return True

    def report_callback_error(self, exc: BaseException) -> None:
        """An exception that escaped a callback into the executor (main's spin loop keeps serving)."""
        if self._problem(diag.ERROR, "callback_error", f"a callback raised {type(exc).__name__}: {exc}; "
                                                       "the node goes on"):
            self.get_logger().error("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def _check_stamp(self, stamp, what: str) -> None:
        before = f"{stamp.sec}.{stamp.nanosec:09d}"
        if normalise_stamp(stamp):
            self._problem(diag.WARN, "stamp_invalid", f"{what} stamp {before} has nanosec >= 1e9: read as "
                                                      f"{stamp.sec}.{stamp.nanosec:09d} s")

    def _on_image(self, msg) -> None:
        self._n_received += 1
        self._in_rate.tick()
        self._check_stamp(msg.header.stamp, "image")
        if isinstance(msg, Image):  # a compressed image's size is checked once it is decoded
            too_large = image_too_large(msg.width, msg.height, self._opts["max_image_pixels"])
            if too_large:
                self._problem(diag.WARN, "image_too_large", too_large)
                return
        self._seq += 1
        frame = Frame(conv.stamp_to_ns(msg.header.stamp), msg.header, msg, self._seq)
        if not self._buffer.push(frame):
            self._problem(diag.WARN, "stamp_backwards",
                          "image stamp went backwards (looping bag / clock reset?): frame buffer cleared")
        with self._cond:
            self._resolve_init(frame)  # first: an init on this very frame is queued with it
            if self._pending_frame is not None:
                self._n_dropped += 1
            self._pending_frame = frame
            self._cond.notify_all()

    def _on_init(self, msg: Detection2D) -> None:
        if self._buffer is None:
            return
        self._check_stamp(msg.header.stamp, "init")
        try:
            box = conv.detection_to_box(msg)
        except BoxError as exc:
            self._problem(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
            return
        with self._cond:  # a newer init replaces one still waiting for its frame
            self._waiting_init = WaitingInit(box, conv.stamp_to_ns(msg.header.stamp),
                                             time.monotonic() + INIT_WAIT_S)
            self._resolve_init()

    def _resolve_init(self, arrived: Optional[Frame] = None) -> None:
        """Give the waiting init its frame (init_matcher), validate the box on it and queue it for the
        worker. Called on an init, on each image (`arrived`) and by a timer (the waiting time's end)."""
        with self._cond:
            w = self._waiting_init
            if w is None or self._buffer is None:
                return
            if w.next_frame:
                if arrived is None:
                    return
                frame, how = arrived, NEXT
            else:
                m = match_init(self._buffer, w.stamp_ns, int(self._opts["init_stamp_tolerance"] * 1e9),
                               int(self._opts["init_nearest_tolerance"] * 1e9), time.monotonic() > w.deadline)
                if m.how == WAIT:
                    return
                if m.how == NEXT:
                    w.next_frame = True
                    self._warn_next_frame(w)
                    return
                frame, how = m.frame, m.how
            self._waiting_init = None
            if how == NEAREST:
                self._problem(diag.WARN, "init_stamp_nearest",
                              f"no frame within init_stamp_tolerance ({self._opts['init_stamp_tolerance']} s) of "
                              f"the init stamp {w.stamp_ns * 1e-9:.3f} s (lost in transport?): the track starts on "
                              f"the nearest buffered frame, {frame.stamp_ns * 1e-9:.3f} s")
            elif how == NEXT:
                self.get_logger().info(f"waiting init: starts on the frame stamped {frame.stamp_ns * 1e-9:.3f} s")
            box = w.box
            if isinstance(frame.msg, Image):  # a compressed frame's size is known once decoded (worker)
                try:
                    box = fit_box(box, (frame.msg.height, frame.msg.width), self._config.min_box_px)
                except BoxError as exc:
                    self._problem(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
                    return
            self._pending_init = (frame, box)
            self._cond.notify_all()

    def _warn_next_frame(self, w: WaitingInit) -> None:
        lo, hi = self._buffer.span_ns()
        if lo is None:
            self._problem(diag.WARN, "init_before_image",
                          f"no image within {INIT_WAIT_S} s of the init: the track starts on the next frame")
            return
        self._problem(diag.WARN, "init_stamp_not_buffered",
                      f"init stamp {w.stamp_ns * 1e-9:.3f} s matches no buffered frame within "
                      f"init_nearest_tolerance ({self._opts['init_nearest_tolerance']} s; buffer: "
                      f"{lo * 1e-9:.3f}..{hi * 1e-9:.3f} s): the track starts on the next frame")

    def _on_reset(self, request, response):
        with self._cond:
            tracking = self._tracking
            cancelled = (self._pending_init is not None or self._waiting_init is not None
                         or self._init_running)
            self._pending_init = self._waiting_init = None
            self._tracking = False
            self._generation += 1  # a frame or an init the worker is on now is not published
            self._last_state = "idle"
        if tracking or cancelled:
            stopped = f"track {self._track_id} stopped" if tracking else ""
            init = "pending init cancelled" if cancelled else ""
            response.success, response.message = True, "; ".join(t for t in (stopped, init) if t)
            self.get_logger().info(response.message)
        else:
            self._problem(diag.WARN, "reset_while_idle", "reset requested while not tracking")
            response.success, response.message = True, "already idle"
        return response

    # ------------------------------------------------------------------ worker
    def _worker_loop(self, rt: _Runtime) -> None:
        try:
            while True:
                with self._cond:
                    while (not rt.stop.is_set() and self._pending_frame is None and self._pending_init is None
                           and not self._pending_params):
                        self._cond.wait(timeout=0.5)
                    if rt.stop.is_set():
                        return
                    init, self._pending_init = self._pending_init, None
                    frame, self._pending_frame = self._pending_frame, None
                    pending, self._pending_params = self._pending_params, {}
                    generation = self._generation
                    self._init_running = init is not None
                try:
                    if pending:
                        self._apply_pending_params(pending, rt.tracker)
                    if init is not None:
                        self._do_init(rt, init, generation)
                        if frame is not None and frame.seq <= init[0].seq:
                            frame = None  # that frame's result was the init itself
                    if frame is not None:
                        self._process(rt, frame)
                except Exception as exc:  # noqa: BLE001 - the node must survive anything a frame causes
                    self._problem(diag.ERROR, "internal", f"{type(exc).__name__}: {exc}")
                    self.get_logger().error(traceback.format_exc())
                finally:
                    with self._cond:
                        self._init_running = False
        finally:
            rt.close()

    def _to_rgb(self, msg) -> np.ndarray:
        if isinstance(msg, CompressedImage):
            rgb = conv.compressed_msg_to_rgb(msg)
            too_large = image_too_large(rgb.shape[1], rgb.shape[0], self._opts["max_image_pixels"])
            if too_large:
                raise conv.ImageError("too_large", too_large)
            return rgb
        return conv.image_msg_to_rgb(msg)

    def _do_init(self, rt: _Runtime, init, generation: int) -> None:
        frame, box = init
        try:
            rgb = self._to_rgb(frame.msg)
            box = fit_box(box, rgb.shape, self._config.min_box_px)
        except conv.ImageError as exc:
            self._problem(diag.WARN, f"image_{exc.kind}", f"init frame unusable: {exc}; init ignored")
            return
        except BoxError as exc:
            self._problem(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
            return
        t0 = time.monotonic()
        try:
            res = rt.tracker.initialize(rgb, tuple(box))
        except ValueError as exc:
            self._problem(diag.WARN, "init_rejected", f"tracker rejected the init (a running track goes on): {exc}")
            return
        if isinstance(res, dict) and "box" in res:
            box = res["box"]  # as the tracker took it
        with self._cond:
            if rt.stop.is_set() or self._generation != generation:
                self.get_logger().info("init discarded: a reset or deactivation came while it was trained")
                return
            self._track_id += 1
            self._tracking = True
            self._track_shape = rgb.shape[:2]
            self._last_state = "tracking"
            self._last_score = 1.0
            self._last_update_error = None
            self._publish(frame.header, box, 1.0, rgb)
        self.get_logger().info(f"track {self._track_id} initialised at {tuple(round(v, 1) for v in box)} "
                               f"in {time.monotonic() - t0:.2f} s")

    def _process(self, rt: _Runtime, frame: Frame) -> None:
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
        res = None
        if tracking:
            try:
                res = rt.tracker.track(rgb)
            except ValueError as exc:
                self._problem(diag.WARN, "track_rejected", f"tracker rejected the frame: {exc}")
                return
            self._record_track_result(res)
        with self._cond:
            if rt.stop.is_set():
                return
            if res is not None and self._generation == generation:  # else a reset / re-init came meanwhile
                self._last_score = float(res["score"])
                self._last_state = res["state"]
                if res["state"] == "tracking" and res["score"] >= self._opts["score_threshold"]:
                    box, score = res["box"], float(res["score"])
            self._publish(frame.header, box, score, rgb)
        self._n_processed += 1
        self._proc_rate.tick()
        self._proc_time.add(time.monotonic() - t0)
        lat_ns = self.get_clock().now().nanoseconds - frame.stamp_ns
        self._latency.add(lat_ns * 1e-9)

    def _record_track_result(self, res: dict) -> None:
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

    def _publish(self, header, box, score: float, rgb: np.ndarray) -> None:
        """Publish one result (called with the lock held, after the generation check)."""
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
            x1, y1, x2, y2 = drawable_corners(box, img.shape[1], img.shape[0])
            t = int(self._opts["debug_image_box_thickness"])
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), t)
            cv2.putText(img, f"{self._opts['label']} #{self._track_id} {score:.2f}", (max(0, x1), max(12, y1 - 4)),
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
    """configure + activate when the `autostart` parameter is true. Returns True when active. A failed
    transition has logged its reason (naming the parameter) already."""
    if not node.get_parameter("autostart").value:
        node.get_logger().info("autostart=false: waiting for lifecycle transitions")
        return False
    return (node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            and node.trigger_activate() == TransitionCallbackReturn.SUCCESS)
