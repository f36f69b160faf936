"""The box-size estimate alone: the tracker's scale filter run on the ground-truth centres of a sequence.

With the centre given, what is left of the box error is the size estimate's own: how far it lags a
target that grows or shrinks, and how much it jitters on one that does not. A sequence takes seconds (no
network, no training), so size estimators can be compared here before a full run under the protocol.

Per frame, as in ``RMANTracker.track``: the pyramid around the centre at the previous box size gives the
filter's size multiplier, the new size is blended geometrically with the previous one (``scale_rate``),
and the filter learns from the pyramid at the new box.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, TextIO

import numpy as np

from rman_ros.core.config import RMANConfig
from rman_ros.core.image_utils import gray01, to_rgb
from rman_ros.core.scale_filter import ScaleFilter, damped_size, model_size, pixel_pyramid
from rman_ros.io import read_image


def _gray(frame) -> np.ndarray:
    """The tracker's grayscale (FrameFeatures.grayscale) of an image path or a uint8 array (RGB or gray)."""
    return gray01(to_rgb(frame if isinstance(frame, np.ndarray) else read_image(frame)))


def probe_sizes(frames: Iterable, gt: np.ndarray, cfg: Optional[RMANConfig] = None,
                learn_from_truth: bool = False) -> np.ndarray:
    """Box sizes (N, 2) that the scale filter of `cfg` gives on the ground-truth centres of `gt` (N, 4;
    x, y, w, h), starting from gt[0]; N = the shorter of frames and gt. Frames whose ground truth is missing
    (w or h <= 0) keep the size. learn_from_truth: the filter learns from the ground-truth box instead of
    its own (so what error is left comes from the detection alone, not from a model learned on lagged
    boxes)."""
    c = cfg if cfg is not None else RMANConfig()
    sf = ScaleFilter(c.scale_filter_scales, c.scale_filter_step, c.scale_filter_lr)
    size = np.asarray(gt[0][2:], dtype=np.float64)
    template = model_size(size)
    sizes = []
    for t, (frame, g) in enumerate(zip(frames, np.asarray(gt, dtype=np.float64))):
        if t == 0 or np.all(g[2:] > 0):
            gray = _gray(frame)
            if t > 0:  # sf.boxes(g, size): the pyramid at the ground-truth centre, at the current size
                size = damped_size(size, size * sf.detect(pixel_pyramid(gray, sf.boxes(g, size), template)),
                                   c.scale_rate)
            learn = g[2:] if learn_from_truth else size  # annotated here (frame 0: the same size as gt[0])
            sf.update(pixel_pyramid(gray, sf.boxes(g, learn), template))
        sizes.append(size)
    return np.asarray(sizes)


def size_log_ratios(sizes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """log(sqrt(w h) / sqrt(w_gt h_gt)) per frame with a ground truth (positive: the box is too large)."""
    gt = np.asarray(gt, dtype=np.float64)[: len(sizes)]
    ok = np.all(gt[:, 2:] > 0, axis=1)
    return 0.5 * np.log(sizes[ok, 0] * sizes[ok, 1] / (gt[ok, 2] * gt[ok, 3]))


def summarize(ratios: np.ndarray) -> Dict[str, float]:
    """error: mean |log size ratio| (0.10 = about 10 % off); bias: its signed mean (the lag shows as a bias
    of one sign through a sequence)."""
    return {"error": float(np.abs(ratios).mean()), "bias": float(ratios.mean()), "frames": int(len(ratios))}


def probe_dataset(seqs: Iterable, cfg: Optional[RMANConfig] = None, log: Optional[TextIO] = None,
                  learn_from_truth: bool = False) -> Dict[str, Dict]:
    """summarize() per loaded sequence (objects with .name, .frames, .gt), printed as it goes to `log`."""
    out = {}
    for seq in seqs:
        out[seq.name] = summarize(size_log_ratios(probe_sizes(seq.frames, seq.gt, cfg, learn_from_truth), seq.gt))
        if log is not None:
            r = out[seq.name]
            print(f"{seq.name:16s} size error {r['error']:.3f}  bias {r['bias']:+.3f}  ({r['frames']} frames)",
                  file=log, flush=True)
    if out and log is not None:
        print(f"{'mean':16s} size error {np.mean([r['error'] for r in out.values()]):.3f}  "
              f"bias {np.mean([r['bias'] for r in out.values()]):+.3f}  ({len(out)} sequences)", file=log)
    return out
