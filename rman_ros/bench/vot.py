"""VOT-2016-style supervised (reset-based) experiment: accuracy, robustness, EAO.

Definitions (VOT 2015/2016 challenge papers and their toolkits):

* The tracker is initialised on frame 0. A **failure** is a frame whose predicted
  box has zero overlap with the gt. The tracker is re-initialised on the gt
  ``skip`` (5) frames after the failure; frames in between are not tracked.
* **Accuracy** = mean overlap over tracked frames, ignoring the ``burnin`` (10)
  frames starting at every (re-)initialisation (the init frame included) and the
  failure frames themselves; dataset accuracy = mean over sequences.
* **Robustness** = number of failures (per sequence; averaged over sequences).
* **EAO**: every (re-)initialisation starts a fragment that runs up to the frame
  before the next initialisation (or to the end of the sequence). Overlaps of the
  fragment are taken from its second frame on (the init frame is not scored);
  a fragment that ended in a failure is padded with zeros to any length, one that
  reached the end of the sequence is only used for lengths it covers. The
  expected overlap for a length ``Ns`` (frames counted with the init frame) is the
  mean, over usable fragments, of their mean overlap over frames 2..Ns; EAO is the
  mean of that curve over ``Ns`` in [108, 371] (VOT-2016 range).

Trajectories use the markers ``INIT``, ``FAIL`` and ``SKIP`` for special frames
and an (x, y, w, h) tuple otherwise.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence as Seq, Tuple, Union

import numpy as np

from rman_ros.bench.metrics import iou

INIT, FAIL, SKIP = "init", "fail", "skip"
Entry = Union[str, Tuple[float, float, float, float]]

VOT2016_EAO_RANGE = (108, 371)


def run_supervised(make_tracker: Callable[[], object], frames: Seq, gt: np.ndarray,
                   read: Callable = None, skip: int = 5) -> List[Entry]:
    """Run a reset-based experiment. ``make_tracker()`` returns an object with
    ``initialize(image, box)`` and ``track(image) -> box``; ``read(frame)`` turns a
    frame entry into an image (identity by default)."""
    read = read or (lambda f: f)
    gt = np.asarray(gt, dtype=np.float64)
    n = len(frames)
    traj: List[Entry] = [SKIP] * n
    f = 0
    tracker = None
    init_next = 0
    while f < n:
        if f == init_next:
            tracker = make_tracker()
            tracker.initialize(read(frames[f]), tuple(float(v) for v in gt[f]))
            traj[f] = INIT
            f += 1
            continue
        if f < init_next:
            traj[f] = SKIP
            f += 1
            continue
        box = np.asarray(tracker.track(read(frames[f])), dtype=np.float64).reshape(4)
        ov = iou(box[None], gt[f][None])[0]
        if not np.isnan(ov) and ov <= 0.0:
            traj[f] = FAIL
            init_next = f + skip
            close = getattr(tracker, "close", None)
            if callable(close):
                close()
        else:
            traj[f] = tuple(float(v) for v in box)
        f += 1
    close = getattr(tracker, "close", None)
    if callable(close):
        close()
    return traj


def _overlaps(traj: Seq[Entry], gt: np.ndarray, fail_value: float = 0.0) -> np.ndarray:
    """Per-frame overlap; NaN on INIT/SKIP frames and unannotated gt, ``fail_value`` on FAIL."""
    out = np.full(len(traj), np.nan)
    for i, e in enumerate(traj):
        if e == FAIL:
            out[i] = fail_value
        elif not isinstance(e, str):
            out[i] = iou(np.asarray(e, dtype=np.float64)[None], np.asarray(gt[i], dtype=np.float64)[None])[0]
    return out


def init_frames(traj: Seq[Entry]) -> List[int]:
    return [i for i, e in enumerate(traj) if e == INIT]


def failures(traj: Seq[Entry]) -> int:
    return sum(1 for e in traj if e == FAIL)


def accuracy(traj: Seq[Entry], gt: np.ndarray, burnin: int = 10) -> float:
    ov = _overlaps(traj, gt, fail_value=np.nan)  # failure frames are not part of accuracy
    for i in init_frames(traj):
        ov[i:i + burnin] = np.nan
    return float(np.nanmean(ov)) if np.any(~np.isnan(ov)) else float("nan")


def fragments(traj: Seq[Entry], gt: np.ndarray) -> List[Tuple[np.ndarray, bool]]:
    """(overlaps from the frame after init, ended_in_failure) per fragment."""
    ov = _overlaps(traj, gt)
    inits = init_frames(traj)
    out = []
    for k, start in enumerate(inits):
        stop = inits[k + 1] if k + 1 < len(inits) else len(traj)
        seg = ov[start + 1:stop].copy()
        failed = any(e == FAIL for e in traj[start + 1:stop])
        if failed:
            first_fail = next(j for j, e in enumerate(traj[start + 1:stop]) if e == FAIL)
            seg = seg[:first_fail + 1]
        seg[np.isnan(seg)] = 0.0
        out.append((seg, failed))
    return out


def expected_overlap_curve(frags: List[Tuple[np.ndarray, bool]], max_len: int) -> np.ndarray:
    """curve[Ns] for Ns = 0..max_len (Ns = fragment length counted with its init frame);
    curve[0] = curve[1] = 1 by convention (nothing is scored yet)."""
    curve = np.full(max_len + 1, np.nan)
    curve[:2] = 1.0
    for ns in range(2, max_len + 1):
        m = ns - 1  # scored frames
        vals = []
        for seg, failed in frags:
            if len(seg) >= m:
                vals.append(float(np.mean(seg[:m])))
            elif failed:
                vals.append(float(np.sum(seg)) / m)
        if vals:
            curve[ns] = float(np.mean(vals))
    return curve


def eao(frags: List[Tuple[np.ndarray, bool]], lo: int = VOT2016_EAO_RANGE[0],
        hi: int = VOT2016_EAO_RANGE[1]) -> float:
    curve = expected_overlap_curve(frags, hi)
    vals = curve[lo:hi + 1]
    return float(np.nanmean(vals)) if np.any(~np.isnan(vals)) else float("nan")


def evaluate(trajectories: Dict[str, Seq[Entry]], gts: Dict[str, np.ndarray], burnin: int = 10,
             eao_range: Tuple[int, int] = VOT2016_EAO_RANGE) -> Dict[str, object]:
    """Dataset-level VOT scores from per-sequence trajectories."""
    per_seq = {}
    frags: List[Tuple[np.ndarray, bool]] = []
    for name, traj in trajectories.items():
        gt = np.asarray(gts[name], dtype=np.float64)
        per_seq[name] = {"accuracy": accuracy(traj, gt, burnin), "failures": failures(traj)}
        frags.extend(fragments(traj, gt))
    accs = [v["accuracy"] for v in per_seq.values() if not np.isnan(v["accuracy"])]
    return {
        "accuracy": float(np.mean(accs)) if accs else float("nan"),
        "robustness": float(np.mean([v["failures"] for v in per_seq.values()])) if per_seq else float("nan"),
        "failures_total": int(sum(v["failures"] for v in per_seq.values())),
        "eao": eao(frags, *eao_range),
        "per_sequence": per_seq,
    }
