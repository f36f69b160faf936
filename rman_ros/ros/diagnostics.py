"""Runtime statistics, problem reports and the diagnostic_msgs/DiagnosticArray builder (no diagnostic_updater).

Only build_status touches ROS messages (imported when called): the tracking loop uses the rest without ROS.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels (bytes in the message)


class RateMeter:
    """Events per second over a sliding time window (monotonic clock)."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._t: collections.deque = collections.deque()
        self._lock = threading.Lock()

    def tick(self, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._t.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._t and now - self._t[0] > self.window_s:
            self._t.popleft()

    def rate(self, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            n = len(self._t)
            if n < 2:
                return 0.0
            return (n - 1) / max(self._t[-1] - self._t[0], 1e-6)


class WindowStats:
    """Last-N samples with mean / percentiles (latency, update durations)."""

    def __init__(self, size: int = 300):
        self._v: collections.deque = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, v: float) -> None:
        with self._lock:
            self._v.append(float(v))

    def summary(self) -> dict:
        with self._lock:
            a = np.asarray(self._v, dtype=float)
        if a.size == 0:
            return {"n": 0, "mean": float("nan"), "p50": float("nan"), "p95": float("nan"),
                    "max": float("nan")}
        return {"n": int(a.size), "mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
                "p95": float(np.percentile(a, 95)), "max": float(a.max())}


@dataclass
class Problem:
    level: int
    kind: str
    message: str
    t: float


@dataclass
class ProblemLog:
    """Counts bad-input events by kind and keeps the most recent one for `hold_s` seconds."""

    hold_s: float = 5.0
    counts: dict = field(default_factory=dict)
    last: Optional[Problem] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, level: int, kind: str, message: str) -> None:
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            now = time.monotonic()
            # an ERROR stays the headline over a later WARN while both are recent
            if (self.last is None or now - self.last.t > self.hold_s or level >= self.last.level):
                self.last = Problem(level, kind, message, now)

    def active(self) -> Optional[Problem]:
        with self._lock:
            if self.last is not None and time.monotonic() - self.last.t <= self.hold_s:
                return self.last
            return None

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.counts)



class Problems:
    """Bad-input and runtime problems: counted by kind (`log`, for the diagnostics) and logged through
    `logger` (anything with info/warning/error), each kind at most once per `throttle_s` seconds."""

    def __init__(self, logger, throttle_s: float = 2.0):
        self.logger = logger
        self.throttle_s = throttle_s
        self.log = ProblemLog()
        self._warned_at: dict = {}
        self._lock = threading.Lock()

    def report(self, level: int, kind: str, message: str) -> bool:
        """Record a problem and log it unless its kind was logged within throttle_s. True if logged."""
        self.log.report(level, kind, message)
        now = time.monotonic()
        with self._lock:
            if now - self._warned_at.get(kind, -1e9) < self.throttle_s:
                return False
            self._warned_at[kind] = now
        # two call sites: rclpy fixes a logging call site's severity on first use
        if level >= ERROR:
            self.logger.error(f"[{kind}] {message}")
        else:
            self.logger.warning(f"[{kind}] {message}")
        return True


class FrameStats:
    """What the diagnostics say about the frames: input and processed rates, latency (now - stamp), process
    time, the tracker's time per stage, and frames received, processed and dropped."""

    def __init__(self):
        self.in_rate = RateMeter()
        self.proc_rate = RateMeter()
        self.latency = WindowStats()
        self.proc_time = WindowStats()
        self.stages: dict = {}  # stage of the tracker's `timings` -> WindowStats
        self.received = 0
        self.processed = 0
        self.dropped = 0

    def on_received(self) -> None:
        self.received += 1
        self.in_rate.tick()

    def on_dropped(self) -> None:
        self.dropped += 1

    def on_processed(self, process_s: float, latency_s: float) -> None:
        self.processed += 1
        self.proc_rate.tick()
        self.proc_time.add(process_s)
        self.latency.add(latency_s)

    def add_timings(self, timings: dict) -> None:
        for stage, seconds in timings.items():
            if stage != "total":  # the process time covers it
                self.stages.setdefault(stage, WindowStats()).add(seconds)

    def values(self) -> dict:
        lat, proc = self.latency.summary(), self.proc_time.summary()
        values = {
            "input_rate_hz": self.in_rate.rate(),
            "processed_rate_hz": self.proc_rate.rate(),
            "latency_ms_p50": lat["p50"] * 1e3,
            "latency_ms_p95": lat["p95"] * 1e3,
            "latency_ms_max": lat["max"] * 1e3,
            "process_ms_mean": proc["mean"] * 1e3,
            "frames_received": self.received,
            "frames_processed": self.processed,
            "frames_dropped": self.dropped,
        }
        for stage, stats in list(self.stages.items()):  # mean over the last tracked frames
            values[f"stage_ms_mean.{stage}"] = stats.summary()["mean"] * 1e3
        return values


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def build_status(name: str, hardware_id: str, values: dict, state: str, problem: Optional[Problem],
                 lost_is_warn: bool = True):
    """DiagnosticStatus for the tracker. Idle (not initialised) is OK; lost is WARN; a recent
    problem raises the level to the problem's level and becomes the message."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    level, message = OK, state
    if state == "lost" and lost_is_warn:
        level, message = WARN, "target lost"
    if problem is not None and problem.level >= level:
        level, message = problem.level, f"{problem.kind}: {problem.message}"
    st = DiagnosticStatus()
    st.level = bytes([level])
    st.name = name
    st.hardware_id = hardware_id
    st.message = message[:500]
    st.values = [KeyValue(key=str(k), value=_fmt(v)) for k, v in values.items()]
    return st
