"""The tracking loop: the tracker, the worker thread that owns it, and the track (no ROS here).

The node wires ROS to it. It hands in frames (push_frame), init boxes (request_init, request_init_if),
resets and parameter changes; these only store under the loop's lock and return, so they never wait for a
frame or an init. One worker thread per start() takes the latest frame and the pending init, runs the
tracker's initialize()/track(), and hands every result (a TrackResult) to the `on_result` callback while
holding the lock, after checking that no reset, new track or stop came in the meantime: the later command
always wins. Online updates run in the core's own background thread (its update_mode).

An init starts its track on the frame init_matcher chooses: its own frame from the ring buffer (waiting up to
INIT_WAIT_S for it), else the nearest buffered frame, else the next frame to arrive.
"""
from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from rman_ros.ros import diagnostics as diag
from rman_ros.ros.frame_buffer import Frame, FrameBuffer
from rman_ros.ros.init_matcher import NEAREST, NEXT, WAIT, WaitingInit, match_init
from rman_ros.ros.validation import BoxError, fit_box

INIT_WAIT_S = 1.0  # how long an init stamped after the newest frame (or before any) waits for its frame
INIT_POLL_S = 0.1  # how often the idle worker checks whether a waiting init has waited its time
IDLE, TRACKING, LOST, INACTIVE = "idle", "tracking", "lost", "inactive"


@dataclass
class TrackResult:
    """The loop's answer to one frame."""
    header: Any  # the frame's header, as pushed
    stamp_ns: int
    box: Optional[tuple]  # (x, y, w, h) to report; None while idle, lost or under score_threshold
    score: float  # of the reported box (0 without one)
    track_id: int
    state: str  # idle, tracking or lost
    rgb: np.ndarray  # the decoded frame
    init: bool = False  # the first frame of a track: box = the init box as the tracker took it, score 1


@dataclass
class TrackState:
    """The current track (changed under the loop's lock)."""
    tracking: bool = False
    generation: int = 0  # + 1 on reset, stop and a dropped track: results of an older generation are dropped
    track_id: int = 0  # + 1 on every new track
    state: str = IDLE  # idle, tracking or lost (the tracker's state on the last frame)
    score: float = math.nan
    shape: Optional[tuple] = None  # (height, width) of the track's frames
    class_id: str = ""  # class of the detection the track started on ('' for a box from outside)
    last_frame_ns: Optional[int] = None  # stamp of the last frame of the track
    lost_since_ns: Optional[int] = None  # stamp of the first frame of the current loss
    result: dict = field(default_factory=dict)  # the tracker's last track() result
    update_error: Optional[str] = None

    def lost_for_s(self) -> float:
        """How long the track has been lost, in frame time (stamps); 0 when it is not lost."""
        if not self.tracking or self.lost_since_ns is None or self.last_frame_ns is None:
            return 0.0
        return (self.last_frame_ns - self.lost_since_ns) * 1e-9


def reported_box(result: dict, score_threshold: float) -> Optional[tuple]:
    """The box a tracker result reports: its box while tracking with score >= score_threshold, else None."""
    if result["state"] == TRACKING and result["score"] >= score_threshold:
        return tuple(float(v) for v in result["box"])
    return None


def apply_config(tracker, changes: dict) -> None:
    """Hand a runtime config change to the tracker (called between frames). `changes` only names
    runtime fields (the others are read-only parameters), so set_config accepts it. They are applied to
    the tracker's own config, whose device and thread count were resolved at load time (`auto`, 0) and
    so differ from the node's parameters."""
    tracker.set_config(tracker.cfg.replace(**changes))


def last_line(text: Optional[str]) -> Optional[str]:
    """The exception line of a traceback string (diagnostics values stay one line)."""
    if not text:
        return None
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else None


UNLOADED = {"device": "unloaded", "matmul_backend": "unloaded", "torch_threads": 0}


class _Runtime:
    """One start(): the tracker, what the diagnostics say about it (`info`), and the worker thread that owns
    it. `stop` tells the worker to drop whatever it is doing, close the tracker and exit."""

    def __init__(self, tracker, info: dict):
        self.tracker = tracker
        self.info = {**UNLOADED, **info}
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def close(self) -> None:
        close = getattr(self.tracker, "close", None)
        if close is not None:
            close()
        self.tracker = None
        if str(self.info["device"]).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


class TrackingLoop:
    """The worker and the track around one tracker.

    `config`: the RMANConfig in force. `opts`: the node options; the loop reads score_threshold,
    init_stamp_tolerance, init_nearest_tolerance, buffer_size and warn_throttle, and applies changes of all
    of them between frames. `on_result(TrackResult)` is called on the worker thread with the loop's lock held.
    `problems` counts and logs problems (its logger also gets the loop's info lines). `decode(image)` turns
    a pushed image into HxWx3 uint8 RGB; it raises ValueError (with a `kind` attribute naming the problem)
    for an unusable image. `now_ns()` is the clock of the latency statistics."""

    def __init__(self, config, opts: dict, on_result: Callable[[TrackResult], None], problems: diag.Problems,
                 decode: Callable[[Any], np.ndarray] = np.asarray, now_ns: Callable[[], int] = time.time_ns):
        self.config = config
        self.opts = dict(opts)
        self.problems = problems
        self.problems.throttle_s = self.opts.get("warn_throttle", problems.throttle_s)
        self.log = problems.logger
        self.stats = diag.FrameStats()
        self.buffer = FrameBuffer(int(self.opts.get("buffer_size", 30)))
        self.track = TrackState()
        self._on_result = on_result
        self._decode = decode
        self._now_ns = now_ns
        self._cond = threading.Condition()  # an RLock inside: results are handed over while holding it
        self._pending_frame: Optional[Frame] = None
        self._pending_init = None  # (Frame, box, WaitingInit): queued for the worker
        self._waiting_init: Optional[WaitingInit] = None  # an init that has no frame yet
        self._init_running = False  # the worker is inside an init
        self._pending_params: dict = {}
        self._rt: Optional[_Runtime] = None
        self._seq = 0

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        return self._rt is not None

    @property
    def tracker(self):
        rt = self._rt
        return rt.tracker if rt is not None else None

    @property
    def worker(self) -> Optional[threading.Thread]:
        rt = self._rt
        return rt.thread if rt is not None else None

    @property
    def init_running(self) -> bool:
        return self._init_running

    def _init_on_its_way(self) -> bool:
        return self._waiting_init is not None or self._pending_init is not None or self._init_running

    def values(self) -> dict:
        """The diagnostics key/values: the track, the loaded tracker, the frames and the problems."""
        with self._cond:
            t, rt = self.track, self._rt
            state = INACTIVE if rt is None else (t.state if t.tracking else IDLE)
            values = {"state": state, "track_id": t.track_id, "score": t.score,
                      **(rt.info if rt is not None else UNLOADED)}
            res = t.result
        values.update(self.stats.values())
        values.update({
            "updates_done": res.get("updates_done", 0),
            "last_update_s": res.get("last_update_s"),
            "update_error": last_line(res.get("update_error")),
        })
        for kind, n in sorted(self.problems.log.snapshot().items()):
            values[f"problem_count.{kind}"] = n
        return values

    # ------------------------------------------------------------------ start / stop
    def start(self, tracker, info: Optional[dict] = None) -> None:
        """Hand the loop a loaded tracker and start the worker thread that owns it (until stop()). `info`:
        device, matmul_backend and torch_threads for the diagnostics."""
        rt = _Runtime(tracker, info or {})
        with self._cond:
            if self._rt is not None:
                raise RuntimeError("the tracking loop is already running")
            self._rt = rt
            rt.thread = threading.Thread(target=self._worker, args=(rt,), name="rman_worker", daemon=True)
        rt.thread.start()

    def stop(self, wait: bool) -> None:
        """Stop tracking. The worker drops its current frame or init, closes its tracker and exits; with
        `wait` this waits for it, else a worker inside an init finishes on its own. Idempotent."""
        with self._cond:
            rt, self._rt = self._rt, None
            if rt is not None:
                rt.stop.set()
            self._pending_frame = self._pending_init = self._waiting_init = None
            self._end_track()
            self._cond.notify_all()
        if rt is not None and wait and rt.thread is not threading.current_thread():
            rt.thread.join(timeout=30.0)

    def _end_track(self) -> None:
        t = self.track
        t.tracking, t.state, t.lost_since_ns = False, IDLE, None
        t.generation += 1  # a frame or an init the worker is on now is not reported

    # ------------------------------------------------------------------ inputs
    def push_frame(self, stamp_ns: int, header, image, shape: Optional[tuple] = None) -> None:
        """A new frame. It replaces one the worker has not taken yet (counted as dropped). `shape`:
        (height, width) when known before decoding, so that an init box is checked on arrival."""
        with self._cond:
            self._seq += 1
            frame = Frame(int(stamp_ns), header, image, self._seq, shape)
            if not self.buffer.push(frame):
                self.problems.report(diag.WARN, "stamp_backwards", "image stamp went backwards (looping bag / "
                                                                   "clock reset?): frame buffer cleared")
            self._resolve_init(frame)  # first: an init on this very frame is queued with it
            if self._pending_frame is not None:
                self.stats.on_dropped()
            self._pending_frame = frame
            self._cond.notify_all()

    def request_init(self, box, stamp_ns: int, class_id: str = "", source: str = "init") -> None:
        """Start a new track at `box` (x, y, w, h, checked with validation.check_box) on the frame stamped
        `stamp_ns` (0: the latest). A newer request replaces one still waiting for its frame. `class_id`:
        the class of the detection the box comes from; `source`: where it comes from, for the log."""
        with self._cond:
            self._waiting_init = WaitingInit(tuple(float(v) for v in box), int(stamp_ns),
                                             time.monotonic() + INIT_WAIT_S, class_id=class_id, source=source)
            self._resolve_init()

    def request_init_if(self, choose: Callable[[TrackState, bool], Optional[tuple]]) -> Optional[tuple]:
        """Start a track only if `choose(track, init_on_its_way)` returns request_init's arguments, decided
        under the loop's lock (no reset, init or result comes in between). Nothing while stopped. Returns
        what `choose` returned."""
        with self._cond:
            if self._rt is None:
                return None
            request = choose(self.track, self._init_on_its_way())
            if request is not None:
                self.request_init(*request)
            return request

    def reset(self) -> str:
        """Stop tracking and cancel an init on its way (its result is then never reported). Returns what was
        done, or "already idle" (with a warning)."""
        with self._cond:
            tracking, track_id = self.track.tracking, self.track.track_id
            cancelled = self._init_on_its_way()
            self._pending_init = self._waiting_init = None
            self._end_track()
        if not (tracking or cancelled):
            self.problems.report(diag.WARN, "reset_while_idle", "reset requested while not tracking")
            return "already idle"
        done = [f"track {track_id} stopped" if tracking else "", "pending init cancelled" if cancelled else ""]
        message = "; ".join(t for t in done if t)
        self.log.info(message)
        return message

    def set_params(self, config_changes: dict, option_changes: dict) -> None:
        """Validated runtime changes of config fields and options: the worker applies them between frames,
        all at once (the latest value of each wins)."""
        with self._cond:
            self._pending_params.update({("cfg", k): v for k, v in config_changes.items()})
            self._pending_params.update({("opt", k): v for k, v in option_changes.items()})
            self._cond.notify_all()

    # ------------------------------------------------------------------ init matching
    def _resolve_init(self, arrived: Optional[Frame] = None) -> None:
        """Give the waiting init its frame (init_matcher), check the box on it and queue it for the worker.
        Called with the lock held: on a request, on each frame (`arrived`) and by the idle worker."""
        w = self._waiting_init
        if w is None:
            return
        if w.next_frame:
            if arrived is None:
                return
            frame, how = arrived, NEXT
        else:
            m = match_init(self.buffer, w.stamp_ns, int(self.opts["init_stamp_tolerance"] * 1e9),
                           int(self.opts["init_nearest_tolerance"] * 1e9), time.monotonic() > w.deadline)
            if m.how == WAIT:
                return
            if m.how == NEXT:
                w.next_frame = True
                self._warn_next_frame(w)
                return
            frame, how = m.frame, m.how
        self._waiting_init = None
        if how == NEAREST:
            self.problems.report(
                diag.WARN, "init_stamp_nearest",
                f"no frame within init_stamp_tolerance ({self.opts['init_stamp_tolerance']} s) of the init stamp "
                f"{w.stamp_ns * 1e-9:.3f} s (lost in transport?): the track starts on the nearest buffered "
                f"frame, {frame.stamp_ns * 1e-9:.3f} s")
        elif how == NEXT:
            self.log.info(f"waiting init: starts on the frame stamped {frame.stamp_ns * 1e-9:.3f} s")
        box = w.box
        if frame.shape is not None:  # else (a compressed frame) the size is known once decoded (worker)
            try:
                box = fit_box(box, frame.shape, self.config.min_box_px)
            except BoxError as exc:
                self.problems.report(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
                return
        self._pending_init = (frame, box, w)
        self._cond.notify_all()

    def _warn_next_frame(self, w: WaitingInit) -> None:
        lo, hi = self.buffer.span_ns()
        if lo is None:
            self.problems.report(diag.WARN, "init_before_image",
                                 f"no image within {INIT_WAIT_S} s of the init: the track starts on the next frame")
            return
        self.problems.report(
            diag.WARN, "init_stamp_not_buffered",
            f"init stamp {w.stamp_ns * 1e-9:.3f} s matches no buffered frame within init_nearest_tolerance "
            f"({self.opts['init_nearest_tolerance']} s; buffer: {lo * 1e-9:.3f}..{hi * 1e-9:.3f} s): the track "
            "starts on the next frame")

    # ------------------------------------------------------------------ worker
    def _has_work(self) -> bool:
        return self._pending_frame is not None or self._pending_init is not None or bool(self._pending_params)

    def _worker(self, rt: _Runtime) -> None:
        try:
            while True:
                with self._cond:
                    while not rt.stop.is_set() and not self._has_work():
                        self._cond.wait(timeout=INIT_POLL_S if self._waiting_init is not None else 0.5)
                        self._resolve_init()  # a waiting init whose time is up takes its fallback
                    if rt.stop.is_set():
                        return
                    init, self._pending_init = self._pending_init, None
                    frame, self._pending_frame = self._pending_frame, None
                    pending, self._pending_params = self._pending_params, {}
                    generation = self.track.generation
                    self._init_running = init is not None
                try:
                    if pending:
                        self._apply_params(pending, rt.tracker)
                    if init is not None:
                        self._start_track(rt, init, generation)
                        if frame is not None and frame.seq <= init[0].seq:
                            frame = None  # that frame's result was the init itself
                    if frame is not None:
                        self._track_frame(rt, frame)
                except Exception as exc:  # noqa: BLE001 - the loop must survive anything a frame causes
                    self.problems.report(diag.ERROR, "internal", f"{type(exc).__name__}: {exc}")
                    self.log.error(traceback.format_exc())
                finally:
                    with self._cond:
                        self._init_running = False
        finally:
            rt.close()

    def _apply_params(self, pending: dict, tracker) -> None:
        """Worker thread, between frames: apply validated runtime changes atomically."""
        cfg_changes = {k: v for (kind, k), v in pending.items() if kind == "cfg"}
        with self._cond:
            self.opts.update({k: v for (kind, k), v in pending.items() if kind == "opt"})
            self.problems.throttle_s = self.opts.get("warn_throttle", self.problems.throttle_s)
            if cfg_changes:
                self.config = self.config.replace(**cfg_changes)
        if cfg_changes:
            if tracker is not None:
                apply_config(tracker, cfg_changes)
            self.log.info(f"applied runtime parameters: {cfg_changes}")

    def _decoded(self, frame: Frame, what: str) -> Optional[np.ndarray]:
        try:
            return self._decode(frame.msg)
        except ValueError as exc:
            self.problems.report(diag.WARN, f"image_{getattr(exc, 'kind', 'decode')}", f"{what}: {exc}")
            return None

    def _start_track(self, rt: _Runtime, init, generation: int) -> None:
        frame, box, w = init
        rgb = self._decoded(frame, "init frame unusable; init ignored")
        if rgb is None:
            return
        try:
            box = fit_box(box, rgb.shape, self.config.min_box_px)
        except BoxError as exc:
            self.problems.report(diag.WARN, f"init_box_{exc.kind}", f"{exc}; ignored")
            return
        t0 = time.monotonic()
        try:
            res = rt.tracker.initialize(rgb, tuple(box))
        except ValueError as exc:
            self.problems.report(diag.WARN, "init_rejected",
                                 f"tracker rejected the init (a running track goes on): {exc}")
            return
        if isinstance(res, dict) and "box" in res:
            box = res["box"]  # as the tracker took it
        with self._cond:
            t = self.track
            if rt.stop.is_set() or t.generation != generation:
                self.log.info("init discarded: a reset or a stop came while it was trained")
                return
            t.track_id += 1
            t.tracking, t.state, t.score = True, TRACKING, 1.0
            t.shape, t.class_id, t.update_error = tuple(rgb.shape[:2]), w.class_id, None
            t.last_frame_ns, t.lost_since_ns = frame.stamp_ns, None
            self._emit(frame, tuple(box), 1.0, rgb, init=True)
            track_id = t.track_id
        source = "" if w.source == "init" else f" ({w.source})"
        self.log.info(f"track {track_id} initialised at {tuple(round(v, 1) for v in box)}{source} "
                      f"in {time.monotonic() - t0:.2f} s")

    def _track_frame(self, rt: _Runtime, frame: Frame) -> None:
        t0 = time.monotonic()
        rgb = self._decoded(frame, "image dropped")
        if rgb is None:
            return
        t = self.track
        with self._cond:
            tracking, generation, shape, track_id = t.tracking, t.generation, t.shape, t.track_id
        if tracking and tuple(rgb.shape[:2]) != tuple(shape):
            self.problems.report(diag.WARN, "image_size_changed",
                                 f"image size changed from {shape[1]}x{shape[0]} to {rgb.shape[1]}x{rgb.shape[0]} "
                                 f"mid-track: track {track_id} dropped, send a new init")
            with self._cond:
                if t.generation == generation:
                    self._end_track()
                    generation = t.generation
            tracking = False
        res = None
        if tracking:
            try:
                res = rt.tracker.track(rgb)
            except ValueError as exc:
                self.problems.report(diag.WARN, "track_rejected", f"tracker rejected the frame: {exc}")
                return
            self._record(res)
        with self._cond:
            if rt.stop.is_set():
                return
            box = None
            if res is not None and t.generation == generation:  # else a reset came meanwhile
                t.score, t.state, t.last_frame_ns = float(res["score"]), res["state"], frame.stamp_ns
                if res["state"] != LOST:
                    t.lost_since_ns = None
                elif t.lost_since_ns is None or frame.stamp_ns < t.lost_since_ns:
                    t.lost_since_ns = frame.stamp_ns
                box = reported_box(res, self.opts["score_threshold"])
            self._emit(frame, box, float(res["score"]) if box is not None else 0.0, rgb)
        self.stats.on_processed(time.monotonic() - t0, (self._now_ns() - frame.stamp_ns) * 1e-9)

    def _record(self, res: dict) -> None:
        t = self.track
        t.result = res
        self.stats.add_timings(res.get("timings", {}))
        err = res.get("update_error")
        if err and err != t.update_error:
            self.problems.report(diag.ERROR, "update_error", "online update failed, tracking continues with the "
                                                             f"last good weights: {last_line(err)}")
            self.log.error(f"online update traceback:\n{err}")
        t.update_error = err

    def _emit(self, frame: Frame, box, score: float, rgb: np.ndarray, init: bool = False) -> None:
        """Hand one result to on_result (called with the lock held, after the generation check)."""
        t = self.track
        self._on_result(TrackResult(frame.header, frame.stamp_ns, box, score, t.track_id,
                                    t.state if t.tracking else IDLE, rgb, init))
