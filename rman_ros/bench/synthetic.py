"""Tiny synthetic sequences for tests and smoke runs (a textured square moving on noise)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np


def moving_square_frames(n: int = 12, size=(96, 128), box=(30.0, 20.0, 24.0, 20.0), step=(2.0, 1.0),
                         seed: int = 0, gray: bool = False):
    """Return (frames list of HxWx3 or HxW uint8, gt (n,4)) with a textured patch moving by ``step``."""
    rng = np.random.default_rng(seed)
    h, w = size
    bg = rng.integers(60, 120, size=(h, w, 3), dtype=np.uint8)
    x0, y0, bw, bh = box
    tex = rng.integers(0, 255, size=(int(bh), int(bw), 3), dtype=np.uint8)
    tex[::4] = 255
    frames, gt = [], []
    for i in range(n):
        x, y = x0 + step[0] * i, y0 + step[1] * i
        img = bg.copy()
        xi, yi = int(round(x)), int(round(y))
        img[yi:yi + int(bh), xi:xi + int(bw)] = tex[: max(0, min(int(bh), h - yi)), : max(0, min(int(bw), w - xi))]
        frames.append(img[:, :, 0].copy() if gray else img)
        gt.append((x, y, bw, bh))
    return frames, np.asarray(gt, dtype=np.float64)


def write_otb_sequence(root: Path, name: str = "Square", n: int = 12, sep: str = ",", newline: str = "\n",
                       gray: bool = False, digits: int = 4, start: int = 1, gt_lines: Optional[int] = None,
                       gt_name: str = "groundtruth_rect.txt", seed: int = 0, **kw) -> Path:
    """Write an OTB-style folder ``root/name/img/0001.jpg ... + groundtruth_rect.txt``."""
    import cv2

    folder = Path(root) / name
    (folder / "img").mkdir(parents=True, exist_ok=True)
    frames, gt = moving_square_frames(n, gray=gray, seed=seed, **kw)
    for i, f in enumerate(frames):
        path = folder / "img" / f"{start + i:0{digits}d}.jpg"
        cv2.imwrite(str(path), f if f.ndim == 2 else f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    lines = gt if gt_lines is None else gt[:gt_lines]
    text = newline.join(sep.join(f"{v:g}" for v in row) for row in lines) + newline
    (folder / gt_name).write_bytes(text.encode())
    return folder
