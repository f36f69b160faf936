"""One-pass-evaluation metrics, matching the OTB toolkit and got10k definitions.

All functions take boxes as float arrays of shape (N, 4) = (x, y, w, h).

* IoU without "+1" (continuous coordinates).
* Success curve: fraction of frames with IoU **strictly greater** than each of the
  21 thresholds 0, 0.05, ..., 1; AUC = mean of the curve.
* Precision curve: fraction of frames with centre error **<=** each of the 51
  thresholds 0, 1, ..., 50 px; DP20 = value at 20 px.
* OS0.5 = success at IoU > 0.5; CLE = mean centre error.
* Normalised precision: centre error divided by the gt size per axis, thresholds
  0, 0.01, ..., 0.5 (<=); ``npr`` = value at 0.2, ``npr_auc`` = mean of that curve.

Frames whose gt row holds a NaN (UAV123 / GOT-10k frames without annotation) are
skipped. A non-finite predicted box counts as a failure (IoU 0, infinite error).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)


def _as_boxes(a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


def _pair(a, b):
    a, b = _as_boxes(a), _as_boxes(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"box arrays differ in length: {a.shape[0]} vs {b.shape[0]}")
    return a, b


def iou(a, b) -> np.ndarray:
    """Per-row IoU of two (N, 4) x,y,w,h arrays (no +1). Non-finite rows -> NaN
    where the second argument (gt) is NaN, 0 where only the first is invalid."""
    a, b = _pair(a, b)
    ix = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    iy = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a = np.clip(a[:, 2], 0, None) * np.clip(a[:, 3], 0, None)
    area_b = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    out = np.clip(out, 0.0, 1.0)
    out[~np.all(np.isfinite(a), axis=1)] = 0.0
    out[~np.all(np.isfinite(b), axis=1)] = np.nan
    return out


def centers(boxes) -> np.ndarray:
    b = _as_boxes(boxes)
    return b[:, :2] + b[:, 2:] / 2.0


def center_error(a, b) -> np.ndarray:
    """Euclidean distance between box centres (pixels)."""
    a, b = _pair(a, b)
    d = np.linalg.norm(centers(a) - centers(b), axis=1)
    d[~np.all(np.isfinite(a), axis=1)] = np.inf
    d[~np.all(np.isfinite(b), axis=1)] = np.nan
    return d


def normalized_center_error(a, b) -> np.ndarray:
    """Centre error divided by the gt width/height per axis (TrackingNet / LaSOT)."""
    a, b = _pair(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.linalg.norm((centers(a) - centers(b)) / b[:, 2:], axis=1)
    d[~np.all(np.isfinite(a), axis=1)] = np.inf
    d[~np.all(np.isfinite(b), axis=1)] = np.nan
    return d


def _log_side_ratios(pred, gt):
    """log(w_pred / w_gt) and log(h_pred / h_gt) over the frames where both boxes have an area."""
    a, b = _pair(pred, gt)
    ok = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(b), axis=1)
    ok &= (a[:, 2] > 0) & (a[:, 3] > 0) & (b[:, 2] > 0) & (b[:, 3] > 0)
    return np.log(a[ok, 2] / b[ok, 2]), np.log(a[ok, 3] / b[ok, 3])


def size_error(pred, gt) -> float:
    """Box-size error of a sequence: RMS over scored frames of log(sqrt(area_pred / area_gt)), the log of the
    side-length ratio (0.1 = sides about 10 % off). Frames whose gt or prediction has no area are skipped."""
    lw, lh = _log_side_ratios(pred, gt)
    if not lw.size:
        return float("nan")
    r = 0.5 * (lw + lh)
    return float(np.sqrt(np.mean(r * r)))


def aspect_error(pred, gt) -> float:
    """Aspect-ratio error of a sequence: RMS of 0.5 log((w/h)_pred / (w/h)_gt), the part of the side errors
    that size_error leaves out (per frame, log w and log h errors are s + a and s - a, with s the size part
    and a this one; 0.1 = one side about 10 % too long, the other 10 % too short)."""
    lw, lh = _log_side_ratios(pred, gt)
    if not lw.size:
        return float("nan")
    r = 0.5 * (lw - lh)
    return float(np.sqrt(np.mean(r * r)))


def off_target(pred, gt, min_iou: float = 0.05) -> float:
    """Share of the scored frames whose box overlaps the target by at most `min_iou`: the frames on which the
    tracker was somewhere else (lost or on a distractor), as opposed to on the target with a poor box."""
    ov = iou(pred, gt)
    ov = ov[~np.isnan(ov)]
    return float(np.mean(ov <= min_iou)) if ov.size else float("nan")


def valid_gt(gt) -> np.ndarray:
    """Mask of gt rows used for scoring (all four numbers finite)."""
    return np.all(np.isfinite(_as_boxes(gt)), axis=1)


def success_curve(pred, gt, thresholds: np.ndarray = SUCCESS_THRESHOLDS) -> np.ndarray:
    ov = iou(pred, gt)
    ov = ov[~np.isnan(ov)]
    if ov.size == 0:
        return np.full(len(thresholds), np.nan)
    return (ov[:, None] > np.asarray(thresholds)[None, :]).mean(axis=0)


def precision_curve(pred, gt, thresholds: np.ndarray = PRECISION_THRESHOLDS) -> np.ndarray:
    ce = center_error(pred, gt)
    ce = ce[~np.isnan(ce)]
    if ce.size == 0:
        return np.full(len(thresholds), np.nan)
    return (ce[:, None] <= np.asarray(thresholds)[None, :]).mean(axis=0)


def normalized_precision_curve(pred, gt, thresholds: np.ndarray = NORM_PRECISION_THRESHOLDS) -> np.ndarray:
    ce = normalized_center_error(pred, gt)
    ce = ce[~np.isnan(ce)]
    if ce.size == 0:
        return np.full(len(thresholds), np.nan)
    return (ce[:, None] <= np.asarray(thresholds)[None, :]).mean(axis=0)


def auc(curve) -> float:
    """Area under a success curve = mean of its 21 points (OTB / got10k)."""
    return float(np.mean(np.asarray(curve, dtype=np.float64)))


def fps(times, skip_init: bool = False) -> float:
    """Frames per second from per-frame times in seconds (optionally without frame 1)."""
    t = np.asarray(times, dtype=np.float64).ravel()
    if skip_init:
        t = t[1:]
    total = float(np.sum(t))
    if t.size == 0 or total <= 0:
        return float("nan")
    return t.size / total


def sequence_metrics(pred, gt, times: Optional[np.ndarray] = None) -> Dict[str, object]:
    """All OPE scores of one sequence. Curves are returned as lists."""
    pred, gt = _pair(pred, gt)
    succ = success_curve(pred, gt)
    prec = precision_curve(pred, gt)
    nprec = normalized_precision_curve(pred, gt)
    ce = center_error(pred, gt)
    ce = ce[~np.isnan(ce)]
    finite = ce[np.isfinite(ce)]
    out: Dict[str, object] = {
        "auc": auc(succ),
        "dp20": float(prec[20]),
        "os50": float(succ[10]),
        "cle": float(np.mean(finite)) if finite.size else float("nan"),
        "npr": float(nprec[20]),
        "npr_auc": float(np.mean(nprec)),
        "frames": int(pred.shape[0]),
        "scored_frames": int(valid_gt(gt).sum()),
        "success_curve": succ.tolist(),
        "precision_curve": prec.tolist(),
    }
    if times is not None and len(times):
        t = np.asarray(times, dtype=np.float64)
        out["fps"] = fps(t)
        out["fps_no_init"] = fps(t, skip_init=True)
        out["time_total"] = float(np.sum(t))
        out["time_init"] = float(t[0])
    return out


def dataset_scores(per_sequence: Dict[str, Dict[str, object]]) -> Dict[str, object]:
    """Mean over sequences (OTB: average of per-sequence curves / scores).

    FPS of the dataset = total frames / total time (with and without init frames).
    """
    seqs = list(per_sequence.values())
    if not seqs:
        return {}
    out: Dict[str, object] = {}
    for k in ("auc", "dp20", "os50", "cle", "npr", "npr_auc"):
        vals = np.array([s[k] for s in seqs], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.any(np.isfinite(vals)) else float("nan")
    out["success_curve"] = np.nanmean([s["success_curve"] for s in seqs], axis=0).tolist()
    out["precision_curve"] = np.nanmean([s["precision_curve"] for s in seqs], axis=0).tolist()
    timed = [s for s in seqs if "time_total" in s]
    if timed and len(timed) == len(seqs):
        frames = sum(s["frames"] for s in timed)
        total = sum(s["time_total"] for s in timed)
        init = sum(s["time_init"] for s in timed)
        out["fps"] = frames / total if total > 0 else float("nan")
        out["fps_no_init"] = (frames - len(timed)) / (total - init) if total - init > 0 else float("nan")
    else:
        out["fps"] = float("nan")
        out["fps_no_init"] = float("nan")
    out["sequences"] = len(seqs)
    return out
