"""Start/stop the tracker node as a real subprocess (demo, bench, score, tests)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import rman_ros
from rman_ros import transport

PACKAGE_ROOT = Path(rman_ros.__file__).resolve().parents[1]
DEFAULT_PARAMS = PACKAGE_ROOT / "config" / "tracker.yaml"


def node_env(extra: Optional[dict] = None, transport_profile: Optional[str] = None) -> dict:
    """Environment for a node subprocess: loopback-only discovery, this checkout importable, and the Fast DDS
    transport profile (rman_ros.transport.apply_profile: None = the caller's FASTDDS_DEFAULT_PROFILES_FILE
    when set, else the package's shm_large_images.xml; a path = that file; '' = none)."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    transport.apply_profile(transport_profile, env)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def node_command(params_file=DEFAULT_PARAMS, params: Optional[dict] = None,
                 remaps: Optional[dict] = None, node_name: Optional[str] = None,
                 namespace: Optional[str] = None, log_level: str = "info") -> list:
    """`python -m rman_ros.ros.tracker_node --ros-args ...` (same arguments as the installed
    `tracker_node` executable and the launch file)."""
    cmd = [sys.executable, "-m", "rman_ros.ros.tracker_node", "--ros-args", "--log-level", log_level]
    if params_file:
        cmd += ["--params-file", str(params_file)]
    for k, v in (params or {}).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        cmd += ["-p", f"{k}:={v}"]
    for src, dst in (remaps or {}).items():
        cmd += ["-r", f"{src}:={dst}"]
    if node_name:
        cmd += ["-r", f"__node:={node_name}"]
    if namespace:
        cmd += ["-r", f"__ns:={namespace if namespace.startswith('/') else '/' + namespace}"]
    return cmd


def start_node(log_path=None, env_extra: Optional[dict] = None, transport_profile: Optional[str] = None,
               **kw) -> subprocess.Popen:
    """Start the node; stdout+stderr go to `log_path` (or are inherited). `transport_profile`: see node_env."""
    out = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115 - closed in stop_node
    proc = subprocess.Popen(node_command(**kw), env=node_env(env_extra, transport_profile), stdout=out,
                            stderr=subprocess.STDOUT if out else None)
    proc._rman_log = out  # type: ignore[attr-defined]
    return proc


def stop_node(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGINT (clean rclpy shutdown), then SIGKILL after `timeout`. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    log = getattr(proc, "_rman_log", None)
    if log is not None:
        log.close()
    return proc.returncode


def stop_signals_as_keyboard_interrupt() -> None:
    """Make SIGINT and SIGTERM unwind as KeyboardInterrupt, so `finally` blocks run (stop a node subprocess,
    send a last zero command). SIGINT is set explicitly: Python raises KeyboardInterrupt on it only when the
    parent left it at its default, and a process started in the background by a non-interactive shell
    (`cmd &` in a script, CI runners) inherits SIGINT ignored and would not stop on it."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, handler)


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")
