"""Box sampling around a target (py-MDNet conventions) and IoU. Boxes are (x, y, w, h) float arrays."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def iou(boxes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """IoU of each (N, 4) box with one reference box (x, y, w, h)."""
    boxes = np.atleast_2d(boxes)
    x1 = np.maximum(boxes[:, 0], ref[0])
    y1 = np.maximum(boxes[:, 1], ref[1])
    x2 = np.minimum(boxes[:, 0] + boxes[:, 2], ref[0] + ref[2])
    y2 = np.minimum(boxes[:, 1] + boxes[:, 3], ref[1] + ref[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = boxes[:, 2] * boxes[:, 3] + ref[2] * ref[3] - inter
    return inter / np.maximum(union, 1e-12)


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.atleast_2d(b)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def draw(kind: str, box: np.ndarray, n: int, trans: float, scale: float, rng: np.random.Generator,
         bounds: Optional[Tuple[float, float, float, float]] = None, min_side: float = 4.0,
         aspect: float = 1.0) -> np.ndarray:
    """Draw n boxes around `box`.

    gaussian: centre offset mean(w,h)*trans*clip(0.5*randn, -1, 1), size * scale**clip(0.5*randn, -1, 1)
    uniform:  centre offset mean(w,h)*trans*U(-1, 1), size * scale**U(-1, 1)
    whole:    centre uniform inside `bounds`, size * scale**U(-1, 1)... up to the bounds size
    bounds = (x0, y0, x1, y1): sample centres are kept inside it and sizes clipped to it.
    aspect > 1: the aspect ratio is jittered too, w * a and h / a with a = aspect**U(-1, 1).
    """
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    w, h = box[2], box[3]
    r = (w + h) / 2.0
    if kind == "gaussian":
        d = np.clip(0.5 * rng.standard_normal((n, 2)), -1, 1) * trans * r
        s = scale ** np.clip(0.5 * rng.standard_normal((n, 1)), -1, 1)
    elif kind == "uniform":
        d = rng.uniform(-1, 1, (n, 2)) * trans * r
        s = scale ** rng.uniform(-1, 1, (n, 1))
    elif kind == "whole":
        if bounds is None:
            raise ValueError("'whole' sampling needs bounds")
        x0, y0, x1, y1 = bounds
        c = np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], axis=1)
        d = c - np.array([cx, cy])
        s = scale ** rng.uniform(-1, 1, (n, 1))
    else:
        raise ValueError(f"unknown sampling kind {kind!r}")
    centres = np.array([cx, cy]) + d
    sizes = np.array([w, h])[None] * s
    if aspect > 1.0:
        a = aspect ** rng.uniform(-1, 1, (n, 1))
        sizes = sizes * np.concatenate([a, 1.0 / a], axis=1)
    sizes = np.maximum(sizes, min_side)
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        sizes = np.minimum(sizes, np.array([max(x1 - x0, min_side), max(y1 - y0, min_side)]))
        centres[:, 0] = np.clip(centres[:, 0], x0, x1)
        centres[:, 1] = np.clip(centres[:, 1], y0, y1)
    return np.concatenate([centres - sizes / 2, sizes], axis=1)


def draw_labelled(kind: str, box: np.ndarray, n: int, trans: float, scale: float, rng: np.random.Generator,
                  iou_range: Tuple[float, float], bounds=None, min_side: float = 4.0,
                  max_rounds: int = 8, aspect: float = 1.0) -> np.ndarray:
    """Draw up to n boxes whose IoU with `box` lies in [lo, hi] (oversample and filter)."""
    lo, hi = iou_range
    out = np.zeros((0, 4))
    m = n
    for _ in range(max_rounds):
        m *= 2
        s = draw(kind, box, m, trans, scale, rng, bounds, min_side, aspect)
        v = iou(s, box)
        s = s[(v >= lo) & (v <= hi)]
        out = np.concatenate([out, s[: n - len(out)]])
        if len(out) >= n:
            break
    return out
