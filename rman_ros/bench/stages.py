"""Where a tracker's time goes: per-frame stage timings written by the runner, summarised by the report.

``OUT/T/S_stages.csv`` holds one row per frame (frame 0 = initialisation) with the seconds of every stage
the tracker reports (RMAN: ``features``, ``detect``, ``collect``, ``update`` and ``total`` per tracked
frame; ``features``, ``samples``, ``train`` and ``total`` at initialisation; an empty cell where a frame
has no such stage) and ``updates_done``, the tracker's update counter after the frame. Trackers that
report no stages (the OpenCV peers) get no file.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

# column order of the file; stages a tracker reports beyond these follow them in first-seen order
KNOWN = ("features", "samples", "train", "detect", "collect", "update", "total")
COUNTER = "updates_done"
_NOT_STAGES = ("frame", "total", COUNTER)


def tracked_stages(files: List[Dict[str, np.ndarray]]) -> List[str]:
    """The stages of tracked frames (frame >= 1) in file column order: every column other than frame, total
    and the counter with a value on some tracked frame (RMAN: features, detect, collect, update)."""
    names = dict.fromkeys(k for f in files for k in f
                          if k not in _NOT_STAGES and np.isfinite(f[k][1:]).any())
    return list(names)


def format_stages(rows: Sequence[Dict[str, float]]) -> str:
    """CSV text of per-frame stage dicts (seconds, microsecond resolution; the counter as an integer)."""
    seen = [k for r in rows for k in r]
    cols = [k for k in KNOWN if k in seen]
    cols += [k for k in dict.fromkeys(seen) if k not in cols and k != COUNTER]
    has_counter = COUNTER in seen
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["frame", *cols] + ([COUNTER] if has_counter else []))
    for i, r in enumerate(rows):
        cells = [i] + ["" if r.get(k) is None else f"{float(r[k]):.6f}" for k in cols]
        if has_counter:
            cells.append("" if r.get(COUNTER) is None else int(r[COUNTER]))
        w.writerow(cells)
    return out.getvalue()


def read_stages(path: Path) -> Dict[str, np.ndarray]:
    """Columns of a stages file as float arrays (NaN for empty cells), keyed by header name."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or not rows[0] or rows[0][0] != "frame":
        raise ValueError(f"{path}: not a stages file (no 'frame' header)")
    header, body = rows[0], rows[1:]
    if any(len(r) != len(header) for r in body):
        raise ValueError(f"{path}: rows of unequal length")
    data = np.array([[float(c) if c != "" else np.nan for c in r] for r in body], dtype=np.float64)
    data = data.reshape(len(body), len(header))
    return {h: data[:, j] for j, h in enumerate(header)}


def summarise(files: List[Dict[str, np.ndarray]]) -> Optional[Dict[str, object]]:
    """Stage summary over the stages files of one tracker (all sequences and runs): ``stages``, the names
    from tracked_stages; mean milliseconds per tracked frame of each of them and of ``total``
    (frame-weighted, as FPS is) and ``other_ms``, what the stages leave of the total; the latency
    percentiles p50 / p95 / max of ``total``, mean initialisation ms, updates per 100 tracked frames and
    the mean ``update`` ms of the frames whose update counter rose. None without files."""
    tracked = [f for f in files if len(f["frame"]) > 1 and "total" in f]
    if not tracked:
        return None
    stages = tracked_stages(tracked)
    out: Dict[str, object] = {"stages": stages, "frames": float(sum(len(f["frame"]) - 1 for f in tracked))}
    totals = np.concatenate([f["total"][1:] for f in tracked])
    for k in stages + ["total"]:
        vals = np.concatenate([f[k][1:] if k in f else np.zeros(len(f["frame"]) - 1) for f in tracked])
        out[f"{k}_ms"] = float(np.nanmean(vals) * 1e3)
    # (rounding aside, RMAN's stages add up to its total; "other" is what a tracker leaves unattributed)
    out["other_ms"] = max(0.0, out["total_ms"] - sum(out[f"{k}_ms"] for k in stages))
    out["p50_ms"], out["p95_ms"], out["max_ms"] = (float(v) * 1e3 for v in np.percentile(totals, [50, 95, 100]))
    out["init_ms"] = float(np.mean([f["total"][0] for f in tracked]) * 1e3)
    counted = [f for f in tracked if COUNTER in f]
    if counted:
        rose = [np.diff(f[COUNTER]) > 0 for f in counted]  # per tracked frame: an update landed
        out["updates_per_100"] = 100.0 * sum(int(r.sum()) for r in rose) / sum(len(r) for r in rose)
        upd = np.concatenate([f["update"][1:][r] for f, r in zip(counted, rose) if "update" in f] or [np.zeros(0)])
        out["update_frame_ms"] = float(np.mean(upd) * 1e3) if upd.size else float("nan")
    return out


def stage_line(summary: Dict[str, object]) -> str:
    """One console line of a summary: ms per tracked frame by stage, latency and updates."""
    parts = [f"{k} {summary[f'{k}_ms']:.1f}" for k in summary["stages"] + ["other"]]
    text = f"ms/frame: {' '.join(parts)} | total {summary['total_ms']:.1f}, p95 {summary['p95_ms']:.0f}, " \
           f"max {summary['max_ms']:.0f}"
    if "updates_per_100" in summary:
        text += f" | {summary['updates_per_100']:.1f} updates/100 frames, {summary['update_frame_ms']:.0f} ms each"
    return text


def speed_verdict(name: str, fps: float, csrt_fps: float, target: float,
                  summary: Optional[Dict[str, object]] = None) -> str:
    """One line saying whether `name` reaches `target` x CSRT's FPS, by how much it misses, and where the
    time goes (its largest stages, ms per frame and share), so that a missed target names its cause."""
    need = target * csrt_fps
    text = f"{name}: {fps:.1f} FPS = {fps / csrt_fps:.2f}x CSRT; target {target:g}x = {need:.1f} FPS: "
    if fps >= need:
        return text + "met"
    text += f"missed by {need - fps:.1f} FPS (needs {need / fps:.2f}x faster, {1e3 / need:.1f} ms per frame)"
    if summary and summary.get("total_ms"):
        total = summary["total_ms"]
        stages = sorted(((summary[f"{k}_ms"], k) for k in summary["stages"]), reverse=True)
        text += "; time per frame: " + ", ".join(f"{k} {ms:.1f} ms ({100 * ms / total:.0f} %)"
                                                  for ms, k in stages)
    return text
