"""Replay a bag into the node, record its detections and score them against the bag's ground truth."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from rman_ros.bag import launcher
from rman_ros.bag.client import ReplayClient
from rman_ros.bag.play import play
from rman_ros.bag.reader import read_bag


def score_boxes(pred: np.ndarray, gt: np.ndarray) -> dict:
    """OPE metrics (rman_ros.bench.metrics); frames without output count as failures."""
    from rman_ros.bench.metrics import sequence_metrics

    m = sequence_metrics(pred, gt)
    return {k: m[k] for k in ("auc", "dp20", "os50", "cle", "frames", "scored_frames")}


def write_boxes(path, boxes: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for b in boxes:
            fh.write("NaN,NaN,NaN,NaN\n" if not np.all(np.isfinite(b)) else
                     ",".join(f"{v:.2f}" for v in b) + "\n")


def run_score(bag, out_dir=None, start_node: bool = True, params_file=launcher.DEFAULT_PARAMS,
              params: Optional[dict] = None, lockstep: bool = True, rate: float = 1.0,
              max_frames: Optional[int] = None, image_topic: str = "image", init_topic: str = "init",
              namespace: str = "", timeout: float = 300.0, log=print) -> dict:
    """Score the node on `bag`. With start_node, a node subprocess is started and stopped here
    (lockstep forces reliable image QoS on it so no frame can be lost)."""
    seq = read_bag(bag, max_frames=max_frames)
    if seq.gt is None:
        raise ValueError(f"{bag}: no /ground_truth topic to score against")
    proc = None
    out = Path(out_dir) if out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    try:
        if start_node:
            p = dict(params or {})
            if lockstep:
                p.setdefault("reliability", "reliable")
            proc = launcher.start_node(log_path=(out / "node.log") if out else None, params_file=params_file,
                                       params=p, remaps={"image": image_topic, "init": init_topic},
                                       namespace=namespace or None)
        with ReplayClient(image_topic, init_topic, namespace=namespace) as client:
            client.wait_for_node(timeout)
            log(f"node ready; replaying {len(seq)} frames ({'lockstep' if lockstep else f'rate {rate}'})")
            t0 = time.monotonic()
            res = play(seq, client, lockstep=lockstep, rate=rate, timeout=timeout)
            wall = time.monotonic() - t0
            boxes = res.boxes(client)
            scores = res.scores(client)
            lat = res.latencies_s(client)
    finally:
        if proc is not None:
            launcher.stop_node(proc)
    summary = score_boxes(boxes, seq.gt)
    summary.update({"bag": str(bag), "mode": "lockstep" if lockstep else f"rate {rate}",
                    "frames_sent": len(res.stamps), "frames_with_output": res.received_frames(client),
                    "wall_s": wall, "fps": len(res.stamps) / wall if wall > 0 else float("nan"),
                    "latency_ms_p50": float(np.percentile(lat, 50) * 1e3) if lat.size else None,
                    "latency_ms_p95": float(np.percentile(lat, 95) * 1e3) if lat.size else None})
    if out:
        write_boxes(out / "boxes.txt", boxes)
        np.savetxt(out / "scores.txt", scores, fmt="%.4f")
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    summary["boxes"] = boxes
    return summary


def direct_run(bag, params_file=launcher.DEFAULT_PARAMS, params: Optional[dict] = None,
               max_frames: Optional[int] = None, device: str = "cpu") -> dict:
    """Run the core tracker directly on the bag's frames with the node's configuration and output
    rule (a 'lost' result -> no box), for comparison with `run_score`."""
    from rman_ros.core import RMANConfig, RMANTracker
    from rman_ros.ros.conversions import image_msg_to_rgb
    from rman_ros.ros.params import config_from_params, params_from_file
    from rman_ros.ros.tracking_loop import reported_box

    from rman_ros.bag.reader import to_ros_image

    flat = params_from_file(params_file) if params_file else {}
    flat.update(_typed(params or {}))
    flat["device"] = device
    cfg = config_from_params(flat, RMANConfig)
    thr = float(flat.get("score_threshold", 0.0))
    seq = read_bag(bag, max_frames=max_frames)
    tracker = RMANTracker(cfg)
    boxes = np.full((len(seq), 4), np.nan)
    start = seq.frames.index(next(f for f in seq.frames if f.stamp_ns == seq.init_stamp_ns))
    t0 = time.monotonic()
    try:
        for i in range(start, len(seq)):
            rgb = image_msg_to_rgb(to_ros_image(seq.frames[i]))
            if i == start:
                tracker.initialize(rgb, seq.init_box)
                boxes[i] = seq.init_box
                continue
            box = reported_box(tracker.track(rgb), thr)
            if box is not None:
                boxes[i] = box
    finally:
        tracker.close()
    out = score_boxes(boxes, seq.gt)
    out["wall_s"] = time.monotonic() - t0
    out["boxes"] = boxes
    return out


def _typed(params: dict) -> dict:
    """CLI-style string values ('3', '0.5', 'true') -> Python values (as ROS would parse them)."""
    import yaml

    return {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in params.items()}
