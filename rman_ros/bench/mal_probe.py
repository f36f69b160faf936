"""Does the memory activation layer ignore history patches that do not show the target?

The paper's MAL (Eq. 1-2) weights each of the K history patches' memory states by its cosine with the
candidate's state, so that an occluded history patch gets a low weight and a background candidate low
weights everywhere (Fig. 3). This probe tracks a sequence and, before every frame, reads for the
ground-truth box and for background boxes the activation weights theta over the K history patches
(``analysis.activation_weights``), and for each history patch its similarity to the first frame's target
(``analysis.history_similarity``; an occluded or drifted patch scores low). It also puts the features of a
background box of the frame in the middle of the history, in place of the tracked patch, and reads that
patch's weight for the ground-truth box.

Per sequence: the mean weight for the target and for background boxes, the spread of the target's
weights within a frame (max - min over the K patches), and, over the frames whose history holds a patch
unlike the others (similarity s.d. over 0.05), the correlation of the weights with the similarity and
the least similar patch's weight relative to the frame's mean weight; and the inserted background patch's
weight relative to the other patches' mean. A MAL that ignores occluded patches shows a clearly positive
correlation and relative weights well below 1.
"""
from __future__ import annotations

from typing import Dict, List, Optional, TextIO

import numpy as np

SPREAD_MIN = 0.05  # similarity s.d. over the K patches above which a history counts as mixed


def probe_sequence(seq, spec, frames: Optional[int] = None) -> List[Dict]:
    """Per tracked frame with a ground truth: theta (K,) of the gt box, theta_bg (mean over background
    boxes), sim (K,) of the history patches, and inserted_weight (the gt box's weight of a background patch
    put into the history, over the other patches' mean). `spec` is a TrackerSpec of an rman tracker whose
    aggregation is mal; frames caps the frames tracked (default all)."""
    from rman_ros.bench.visualize import background_boxes, track_until
    from rman_ros.core import analysis

    n = len(seq.frames) if frames is None else min(int(frames), len(seq.frames))
    rows: List[Dict] = []

    def record(image, i, tracker):
        g = np.asarray(seq.gt[i], dtype=np.float64)
        if not (np.all(np.isfinite(g)) and np.all(g[2:] > 0)):
            return
        feats = analysis.box_features(tracker, image, np.vstack([g[None], background_boxes(g, image.shape)]))
        theta = analysis.activation_weights_of(tracker, feats)
        j = tracker.cfg.K // 2  # a background patch in the middle of the history, the rest as tracked
        swapped = analysis.activation_weights_of(tracker, feats[:1], analysis.history_with(tracker, j, feats[1]))[0]
        rows.append({"frame": i, "theta": theta[0], "theta_bg": float(theta[1:].mean()),
                     "sim": analysis.history_similarity(tracker),
                     "inserted_weight": float(swapped[j] / np.delete(swapped, j).mean())})

    track_until(spec, seq, n, record).close()
    return rows


def summarize(rows: List[Dict]) -> Dict[str, float]:
    """The figures of the module docstring; NaN where no frame has a mixed history."""
    if not rows:
        raise ValueError("no frame with a ground truth was probed")
    theta = np.stack([r["theta"] for r in rows])
    sim = np.stack([r["sim"] for r in rows])
    mixed = sim.std(1) > SPREAD_MIN
    corr, rel = [], []
    for t, s in zip(theta[mixed], sim[mixed]):
        if t.std() > 1e-9:
            corr.append(np.corrcoef(t, s)[0, 1])
        rel.append(t[np.argmin(s)] / t.mean())
    nan = float("nan")
    return {"frames": int(len(rows)), "theta_target": float(theta.mean()),
            "theta_background": float(np.mean([r["theta_bg"] for r in rows])),
            "theta_range": float((theta.max(1) - theta.min(1)).mean()),
            "mixed_frames": int(mixed.sum()),
            "corr_with_similarity": float(np.mean(corr)) if corr else nan,
            "least_similar_weight": float(np.mean(rel)) if rel else nan,
            "inserted_weight": float(np.mean([r["inserted_weight"] for r in rows]))}


def format_row(name: str, r: Dict[str, float]) -> str:
    return (f"{name:16s} theta target {r['theta_target']:.2f}  background {r['theta_background']:.2f}  "
            f"range in frame {r['theta_range']:.2f}  | mixed histories {r['mixed_frames']:4d}: "
            f"corr(theta, similarity) {r['corr_with_similarity']:+.2f}  "
            f"least similar patch's weight x{r['least_similar_weight']:.2f}  | a background patch put in the "
            f"history: its weight x{r['inserted_weight']:.2f}  ({r['frames']} frames)")


def _mean_row(rows: List[Dict]) -> Dict:
    """Frame counts summed; the mixed-history figures averaged over the mixed frames (each sequence
    weighted by its count), the others over the sequences."""
    mean: Dict = {k: int(sum(r[k] for r in rows)) for k in ("frames", "mixed_frames")}
    for k in rows[0]:
        if k in mean:
            continue
        per_mixed = k in ("corr_with_similarity", "least_similar_weight")
        pairs = [(r[k], r["mixed_frames"] if per_mixed else 1) for r in rows if np.isfinite(r[k])]
        weight = sum(w for _, w in pairs)
        mean[k] = float(sum(v * w for v, w in pairs) / weight) if weight else float("nan")
    return mean


def probe_dataset(seqs, spec, frames: Optional[int] = None, log: Optional[TextIO] = None) -> Dict[str, Dict]:
    """summarize() per loaded sequence, printed as it goes to `log`, and the mean over sequences."""
    out: Dict[str, Dict] = {}
    for seq in seqs:
        out[seq.name] = summarize(probe_sequence(seq, spec, frames))
        if log is not None:
            print(format_row(seq.name, out[seq.name]), file=log, flush=True)
    if out:
        out["mean"] = _mean_row(list(out.values()))
        if log is not None:
            print(format_row("mean", out["mean"]), file=log, flush=True)
    return out
