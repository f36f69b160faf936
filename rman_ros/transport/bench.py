"""Transport benchmark: sensor_msgs/Image frames at a fixed rate from this process to a subscriber in a child
process, on one host, through rclpy and the RMW (no tracker). Counts the frames that arrive and their latency
(arrival minus the publish stamp, one wall clock for both).

    python -m rman_ros.transport bench --size 640x360 --fps 30 --frames 300 --qos best_effort \
        [--profile PATH | --profile ''] [--out result.json]

Both processes get the same transport profile through FASTDDS_DEFAULT_PROFILES_FILE (default: the package's
shm_large_images.xml; '' = none, Fast DDS's defaults) and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST. Run it
in a fresh process (the command line does): a process reads the profile once, when it creates its first
DDS participant. Bounded: the child ends when told, when its stdin closes (the parent died) or at its
deadline; the parent kills it if it does not.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from rman_ros import transport

ENCODING_BYTES = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}
TOPIC = "rman_transport_bench/image"
READY, MATCHED, RESULT, STOP = "READY", "MATCHED", "RESULT ", "STOP"


def parse_size(text: str) -> tuple:
    """'640x360' -> (640, 360)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 640x360") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size {text!r}: width and height must be positive")
    return w, h


def _qos(reliability: str, depth: int):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    rel = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}[reliability]
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=rel,
                      durability=DurabilityPolicy.VOLATILE)


def shm_segments_mib(pid: int) -> list:
    """Sizes (MiB) of the Fast DDS shared-memory segments mapped by process `pid` (its own and those of the
    peers it reads from; Linux /proc). [] when none or unknown."""
    sizes = {}
    try:
        with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6 and "/dev/shm/fastdds_" in parts[5] and "_port" not in parts[5] \
                        and not parts[5].endswith("_el"):
                    lo, hi = (int(v, 16) for v in parts[0].split("-"))
                    sizes[parts[5]] = sizes.get(parts[5], 0) + hi - lo
    except OSError:
        return []
    return sorted(round(v / 2**20, 1) for v in sizes.values())


# ---------------------------------------------------------------- subscriber (child process)

def subscribe(topic: str, reliability: str, depth: int, deadline_s: float) -> int:
    """Child side: subscribe, print READY and MATCHED, count frames until STOP on stdin (or stdin closes,
    or `deadline_s` passes), then print one RESULT line of JSON."""
    import rclpy
    from rclpy.event_handler import SubscriptionEventCallbacks
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    deadline = time.monotonic() + deadline_s
    stop = threading.Event()
    matched = threading.Event()
    frames = []  # (frame index, receive ns - stamp ns, bytes)

    def on_image(msg):
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        try:
            index = int(msg.header.frame_id)
        except ValueError:
            index = -1
        frames.append((index, now - stamp, len(msg.data)))

    def on_matched(info):
        if info.current_count > 0:
            matched.set()

    def read_stdin():
        for line in sys.stdin:
            if line.strip() == STOP:
                break
        stop.set()  # STOP, or the parent went away

    ctx = rclpy.Context()
    rclpy.init(args=[], context=ctx)
    try:
        node = rclpy.create_node("rman_transport_sub", context=ctx)
        node.create_subscription(Image, topic, on_image, _qos(reliability, depth),
                                 event_callbacks=SubscriptionEventCallbacks(matched=on_matched))
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        threading.Thread(target=read_stdin, daemon=True).start()
        print(READY, flush=True)
        said_matched = False
        while not stop.is_set() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if matched.is_set() and not said_matched:
                print(MATCHED, flush=True)
                said_matched = True
        for _ in range(20):  # what already arrived
            executor.spin_once(timeout_sec=0.0)
        result = {"frames": frames, "shm_segments_mib": shm_segments_mib(os.getpid()),
                  "timed_out": not stop.is_set()}
        print(RESULT + json.dumps(result), flush=True)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
    return 0


# ---------------------------------------------------------------- publisher (this process)

class _Child:
    """The subscriber process: its stdout lines on a queue-like list, read by a thread."""

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines, self.stderr = [], []
        self._cv = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True).start()

    def _pump(self, stream, into):
        for line in stream:
            with self._cv:
                into.append(line.rstrip("\n"))
                self._cv.notify_all()

    def wait_line(self, pred, timeout: float) -> Optional[str]:
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return next((line for line in self.lines if pred(line)), None)
                self._cv.wait(min(left, 0.1))

    def stop(self) -> None:
        """Ask the subscriber to report and end (it answers with its RESULT line)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(STOP + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

    def close(self, timeout: float = 10.0) -> int:
        """Close its stdin and wait for it; SIGINT, then SIGKILL, when it does not end. Returns its exit code."""
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


def _percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def run_bench(size: str = "640x360", fps: float = 30.0, frames: int = 300, qos: str = "best_effort",
              profile: Optional[str] = None, depth: int = 1, encoding: str = "rgb8", topic: str = TOPIC,
              startup_timeout: float = 60.0, drain_s: float = 1.0, sub_profile: Optional[str] = None,
              log=print) -> dict:
    """Publish `frames` images of `size` at `fps` to a subscriber child process; return the figures.

    `profile`: None = FASTDDS_DEFAULT_PROFILES_FILE if the caller set it, else the package's profile;
    a path = that profile; '' = none (Fast DDS's built-in transports). Both processes get the same one,
    unless `sub_profile` (a path, or '' for none) gives the subscriber another.
    `depth`: KEEP_LAST depth of both ends (1 = what the tracker node's image subscription uses)."""
    width, height = parse_size(size)
    if qos not in ("best_effort", "reliable"):
        raise ValueError(f"qos {qos!r}: expected best_effort or reliable")
    if encoding not in ENCODING_BYTES:
        raise ValueError(f"encoding {encoding!r}: expected one of {', '.join(ENCODING_BYTES)}")
    if fps <= 0 or frames <= 0 or depth <= 0:
        raise ValueError("fps, frames and depth must be positive")
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    profile_env = transport.apply_profile(profile)  # this process and (through os.environ) the child
    run_s = frames / fps
    env = dict(os.environ)
    sub_env = profile_env
    if sub_profile is not None:
        sub_env = transport.apply_profile(sub_profile, env)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(transport.__file__).resolve().parents[2])]
                                        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable, "-m", "rman_ros.transport", "sub", "--topic", topic, "--qos", qos,
           "--depth", str(depth), "--deadline", str(startup_timeout + run_s + 30.0)]

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    step = ENCODING_BYTES[encoding] * width
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=step)
    row = bytes((i * 7) & 0xFF for i in range(step))
    msg.data = row * height  # content does not matter to the transport
    nbytes = step * height

    load_before = os.getloadavg()
    child = _Child(cmd, env)
    ctx = rclpy.Context()
    sent, late = 0, 0
    t_start = t_end = time.monotonic()
    shm_parent = []
    try:
        rclpy.init(args=[], context=ctx)
        node = rclpy.create_node("rman_transport_pub", context=ctx)
        pub = node.create_publisher(Image, topic, _qos(qos, depth))
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        if child.wait_line(lambda s: s == READY, startup_timeout) is None:
            raise RuntimeError("subscriber did not start: " + " | ".join(child.stderr[-5:]))
        end = time.monotonic() + startup_timeout
        while pub.get_subscription_count() < 1 and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        if pub.get_subscription_count() < 1 or child.wait_line(lambda s: s == MATCHED,
                                                               max(end - time.monotonic(), 1.0)) is None:
            raise RuntimeError("publisher and subscriber did not match within "
                               f"{startup_timeout:.0f} s: " + " | ".join(child.stderr[-5:]))
        time.sleep(0.5)  # let both sides finish matching (locators of every transport)
        shm_parent = shm_segments_mib(os.getpid())
        log(f"[transport] {frames} frames {width}x{height} {encoding} ({nbytes / 1e6:.2f} MB) at {fps:g} Hz, "
            f"{qos}, depth {depth}, profile {profile_env.get(transport.PROFILE_ENV) or 'none (Fast DDS defaults)'}"
            + ("" if sub_env == profile_env else
               f", subscriber's profile {sub_env.get(transport.PROFILE_ENV) or 'none (Fast DDS defaults)'}"))
        period = 1.0 / fps
        t_start = time.monotonic()
        for i in range(frames):
            due = t_start + i * period
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -period:
                late += 1
            now_ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
            msg.header.frame_id = str(i)
            pub.publish(msg)
            sent += 1
        t_end = time.monotonic()
        time.sleep(drain_s)
        child.stop()
        line = child.wait_line(lambda s: s.startswith(RESULT), 30.0)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
        rc = child.close()
    if line is None:
        raise RuntimeError(f"subscriber gave no result (exit {rc}): " + " | ".join(child.stderr[-5:]))
    sub = json.loads(line[len(RESULT):])
    received = {index for index, _, n in sub["frames"] if n == nbytes and 0 <= index < frames}
    lat_ms = [lat / 1e6 for index, lat, n in sub["frames"] if n == nbytes and 0 <= index < frames]
    from rman_ros.core.runtime import cpu_description

    result = {
        "size": f"{width}x{height}", "encoding": encoding, "bytes_per_frame": nbytes, "fps": fps,
        "qos": qos, "depth": depth,
        "profile": profile_env.get(transport.PROFILE_ENV, ""),
        "subscriber_profile": sub_env.get(transport.PROFILE_ENV, ""),
        "frames_sent": sent, "frames_received": len(received),
        "received_fraction": round(len(received) / sent, 4) if sent else 0.0,
        "latency_ms_p50": _percentile(lat_ms, 50), "latency_ms_p95": _percentile(lat_ms, 95),
        "latency_ms_max": max(lat_ms) if lat_ms else None,
        "publish_s": round(t_end - t_start, 3),
        "send_fps_achieved": round(sent / (t_end - t_start), 2) if t_end > t_start else None,
        "frames_sent_late": late,
        "shm_segments_mib": {"publisher": shm_parent, "subscriber": sub.get("shm_segments_mib", [])},
        "subscriber_warnings": [s for s in child.stderr if s.strip()][-10:],
        "load_avg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": cpu_description(), "python": platform.python_version(),
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
        "ros_distro": os.environ.get("ROS_DISTRO", ""),
    }
    for key in ("latency_ms_p50", "latency_ms_p95", "latency_ms_max"):
        if result[key] is not None:
            result[key] = round(result[key], 2)
    return result


def main_sub(args) -> int:
    return subscribe(args.topic, args.qos, args.depth, args.deadline)
