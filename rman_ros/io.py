"""Small I/O helpers shared by the tracker CLI and the benchmark toolkit.

* :func:`read_image` loads any image file as an ``HxWx3`` ``uint8`` RGB array
  (grayscale is replicated to three channels, alpha is dropped).
* :func:`write_text_atomic` writes a text file through a temporary file in the
  same directory followed by :func:`os.replace`, so readers never see a
  half-written result file (the benchmark runner relies on this for resume).
* :func:`read_boxes` / :func:`format_boxes` read and write ``x,y,w,h`` box files
  in the OTB convention (comma, tab or space separated; CRLF tolerated).
* :func:`save_figure_atomic` writes a matplotlib figure the same way and closes it.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

PathLike = Union[str, os.PathLike]

_SPLIT = re.compile(r"[,\s;]+")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as HxWx3 uint8 (gray -> 3 channels, RGBA -> RGB)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[:, :, :3])
    raise ValueError(f"unsupported image shape {arr.shape}")


def read_image(path: PathLike) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array.

    Raises ``FileNotFoundError`` if the file does not exist and ``ValueError``
    if it cannot be decoded.
    """
    import cv2  # local import: keep module import cheap

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image not found: {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ValueError(f"cannot decode image: {p}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_figure_atomic(fig, path: PathLike, dpi: Optional[float] = None) -> Path:
    """Save a matplotlib figure as `path` (format from its suffix; dpi None: matplotlib's default) through a
    temporary file in the same folder and a rename, then close the figure."""
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, p)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return p


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p


def format_boxes(boxes: Iterable[Iterable[float]], decimals: int = 4) -> str:
    """Format boxes as ``x,y,w,h`` lines (``decimals`` >= 2, never rounded to ints)."""
    decimals = max(2, int(decimals))
    lines = []
    for box in boxes:
        vals = [float(v) for v in box]
        if len(vals) != 4:
            raise ValueError(f"a box needs 4 numbers, got {len(vals)}")
        lines.append(",".join("NaN" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in vals))
    return "\n".join(lines) + ("\n" if lines else "")


def parse_numbers_line(line: str) -> list:
    """Split one annotation line on commas / whitespace; returns floats ('NaN' allowed)."""
    parts = [t for t in _SPLIT.split(line.strip()) if t]
    try:
        return [float(t) for t in parts]
    except ValueError as exc:
        raise ValueError(f"cannot parse numbers from line {line.strip()!r}") from exc


def read_number_rows(path: PathLike) -> list:
    """Read a text file of numbers, one row per non-empty line."""
    p = Path(path)
    with open(p, "r", encoding="utf-8-sig", newline=None) as fh:
        rows = []
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(parse_numbers_line(line))
            except ValueError as exc:
                raise ValueError(f"{p}:{lineno}: {exc}") from None
    return rows


def read_boxes(path: PathLike) -> np.ndarray:
    """Read an ``x,y,w,h`` box file as float64 (N,4); empty lines are ignored."""
    rows = read_number_rows(path)
    for i, r in enumerate(rows):
        if len(r) != 4:
            raise ValueError(f"{path}: line {i + 1} has {len(r)} numbers, expected 4")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)
