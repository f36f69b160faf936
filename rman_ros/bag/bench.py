"""Timed replay benchmark of the node: processed FPS, dropped frames, latency, RSS growth."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from rman_ros import transport
from rman_ros.bag import launcher
from rman_ros.bag.client import ReplayClient
from rman_ros.bag.play import play
from rman_ros.bag.reader import read_bag


def _diag_value(status, key):
    for kv in status.values:
        if kv.key == key:
            return kv.value
    return None


def run_bench(bag, frames: int = 3000, fps: float = 30.0, out_dir=None, params_file=launcher.DEFAULT_PARAMS,
              params: Optional[dict] = None, warmup_frames: int = 1000, namespace: str = "",
              transport_profile: Optional[str] = None, log=print) -> dict:
    """Start a node subprocess, replay `bag` at `fps` for `frames` frames (forwards and backwards,
    so the motion stays continuous; one init), sample the node's RSS once a second, report.

    RSS is reported from the first sample after the init (`rss_mb_first`), after `warmup_frames`
    input frames (the core's bounded sample pools fill during the first few hundred processed
    frames) and at the end; `rss_growth_mb` = end - after warm-up (a leak shows up here). RSS includes the
    Fast DDS shared-memory segments the node maps (its own is 32 MiB with the transport profile).

    `transport_profile`: the Fast DDS profile of this process (read when it creates its first participant:
    call run_bench before any other rclpy use in the process) and of the node. None = the caller's
    FASTDDS_DEFAULT_PROFILES_FILE when set, else the package's shm_large_images.xml; '' = none."""
    profile_env = transport.apply_profile(transport_profile)
    seq = read_bag(bag)
    out = Path(out_dir) if out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    proc = launcher.start_node(log_path=(out / "node.log") if out else None, params_file=params_file,
                               params=params or {}, namespace=namespace or None,
                               transport_profile=profile_env.get(transport.PROFILE_ENV, ""))
    rss = []  # (frame index, MiB)
    progress = {"i": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                rss.append((progress["i"], launcher.rss_mb(proc.pid)))
            except (OSError, RuntimeError):
                return
            stop.wait(1.0)

    try:
        with ReplayClient(namespace=namespace) as client:
            client.wait_for_node(600)
            log(f"node ready (pid {proc.pid}); {frames} frames of {Path(bag).name} at {fps} Hz")
            th = threading.Thread(target=sample, daemon=True)
            th.start()

            def prog(i, n):
                progress["i"] = i
                if i % 500 == 0:
                    log(f"  frame {i}/{n}, RSS {rss[-1][1] if rss else float('nan'):.0f} MiB")

            res = play(seq, client, lockstep=False, fps=fps, n_frames=frames, pingpong=True, progress=prog)
            time.sleep(2.5)  # one more diagnostics period
            diag = client.latest_diagnostics()
            lat = res.latencies_s(client)
            received = res.received_frames(client)
            boxes = res.boxes(client)
            first_box = res.first_box_s(client)
    finally:
        stop.set()
        launcher.stop_node(proc)
    rss_arr = np.array(rss) if rss else np.zeros((0, 2))
    after_warm = rss_arr[rss_arr[:, 0] >= warmup_frames] if rss_arr.size else rss_arr
    result = {
        "bag": str(bag), "transport_profile": profile_env.get(transport.PROFILE_ENV, ""),
        "frames_sent": frames, "fps_in": fps, "wall_s": res.wall_s,
        "fps_in_achieved": frames / res.wall_s if res.wall_s > 0 else float("nan"),
        "node_latency_ms_p50": _diag_value(diag, "latency_ms_p50") if diag else None,
        "node_latency_ms_p95": _diag_value(diag, "latency_ms_p95") if diag else None,
        "node_frames_received": _diag_value(diag, "frames_received") if diag else None,
        "frames_with_output": received,
        "processed_fps": received / res.wall_s if res.wall_s > 0 else float("nan"),
        "dropped_frames": frames - received,  # node-side drops + frames lost in (best-effort) transport
        "node_frames_dropped": _diag_value(diag, "frames_dropped") if diag else None,
        "node_updates_done": _diag_value(diag, "updates_done") if diag else None,
        "latency_ms_p50": float(np.percentile(lat, 50) * 1e3) if lat.size else None,
        "latency_ms_p95": float(np.percentile(lat, 95) * 1e3) if lat.size else None,
        "latency_ms_max": float(lat.max() * 1e3) if lat.size else None,
        "frames_tracked": int(np.isfinite(boxes[:, 0]).sum()),
        "first_box_ms": float(first_box[0] * 1e3) if first_box else None,  # init sent -> its box received
        "rss_mb_first": float(rss_arr[0, 1]) if rss_arr.size else None,
        "rss_mb_after_warmup": float(after_warm[0, 1]) if after_warm.size else None,
        "rss_mb_end": float(rss_arr[-1, 1]) if rss_arr.size else None,
        "rss_mb_max": float(rss_arr[:, 1].max()) if rss_arr.size else None,
    }
    if after_warm.size:
        result["rss_growth_mb"] = float(after_warm[-1, 1] - after_warm[0, 1])
    if rss_arr.size:
        result["rss_growth_total_mb"] = float(rss_arr[-1, 1] - rss_arr[0, 1])
    if out:
        (out / "bench.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        np.savetxt(out / "rss.txt", rss_arr, fmt="%.1f", header="frame_index rss_mib")
    return result
