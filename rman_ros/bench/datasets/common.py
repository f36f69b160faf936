"""What every dataset layout shares: the sequence types, annotation reading and frame matching."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from rman_ros.io import read_number_rows

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
ATTRIBUTES = ("IV", "SV", "OCC", "DEF", "MB", "FM", "IPR", "OPR", "OV", "BC", "LR")
_DATA_DIR = Path(__file__).resolve().parents[1] / "data"

class SequenceError(RuntimeError):
    """A sequence folder whose frames and annotation cannot be used."""


@dataclass
class SequenceSpec:
    """Where a sequence lives and how to read it (cheap; no validation)."""

    name: str
    path: Path
    layout: str  # otb | tc128 | vot | got10k | lasot | uav123
    target: Optional[int] = None  # OTB two-target videos: 1 or 2
    anno: Optional[Path] = None  # UAV123 official layout: annotation file


@dataclass
class Sequence:
    name: str
    frames: List[Path]
    gt: np.ndarray
    attributes: List[str] = field(default_factory=list)
    layout: str = "otb"
    path: Optional[Path] = None
    frame_numbers: List[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def init_box(self) -> np.ndarray:
        return self.gt[0].copy()


def norm_name(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


@lru_cache(maxsize=1)
def _attribute_table() -> Dict[str, List[str]]:
    doc = json.loads((_DATA_DIR / "otb_attributes.json").read_text(encoding="utf-8"))
    return {norm_name(k): list(v) for k, v in doc["sequences"].items()}


def attributes_for(name: str) -> List[str]:
    """OTB attribute labels of a sequence (empty list if unknown)."""
    return list(_attribute_table().get(norm_name(name), []))


@lru_cache(maxsize=1)
def sequence_sets() -> Dict[str, List[str]]:
    """Named sequence lists: OTB2013 (51), OTB2015 (100), shared18."""
    doc = json.loads((_DATA_DIR / "otb_sets.json").read_text(encoding="utf-8"))
    return {k: list(v) for k, v in doc.items() if isinstance(v, list)}


def _frame_number(p: Path) -> Optional[int]:
    m = re.search(r"(\d+)$", p.stem)
    return int(m.group(1)) if m else None


def list_images(folder: Path) -> List[Tuple[int, Path]]:
    """Images of a folder sorted by the number at the end of their stem."""
    items = []
    for p in folder.iterdir():
        if p.suffix.lower() in IMAGE_EXTS and p.is_file():
            n = _frame_number(p)
            if n is not None:
                items.append((n, p))
    items.sort(key=lambda t: t[0])
    return items


def _check_contiguous(items: List[Tuple[int, Path]], folder: Path) -> None:
    for (a, _), (b, pb) in zip(items, items[1:]):
        if b == a:
            raise SequenceError(f"{folder}: two images with frame number {a}")
        if b != a + 1:
            missing = a + 1
            raise SequenceError(
                f"{folder}: missing frame {missing} (images jump from frame {a} to {b}, next file {pb.name})")


def polygon_to_box(row: np.ndarray) -> np.ndarray:
    """VOT 8-number polygon -> axis-aligned bounding box (min/max corners)."""
    xs, ys = row[0::2], row[1::2]
    x0, y0 = np.min(xs), np.min(ys)
    return np.array([x0, y0, np.max(xs) - x0, np.max(ys) - y0], dtype=np.float64)


def read_annotation(path: Path) -> np.ndarray:
    """Read a gt file: 4 numbers per line (x,y,w,h) or 8 (polygon -> box). NaN kept."""
    try:
        rows = read_number_rows(path)
    except ValueError as exc:
        raise SequenceError(str(exc)) from None
    out = np.full((len(rows), 4), np.nan)
    for i, r in enumerate(rows):
        if len(r) == 4:
            out[i] = r
        elif len(r) == 8:
            out[i] = polygon_to_box(np.asarray(r, dtype=np.float64))
        elif len(r) == 1 and np.isnan(r[0]):
            pass  # a lone NaN marks a frame without annotation
        else:
            raise SequenceError(f"{path}: line {i + 1} has {len(r)} numbers (expected 4 or 8)")
    return out


def _select(items, start: int, count: Optional[int], end: Optional[int], folder: Path):
    sel = [(n, p) for n, p in items if n >= start and (end is None or n <= end)]
    if not sel or sel[0][0] != start:
        raise SequenceError(f"{folder}: first frame {start} not found")
    if count is not None:
        sel = sel[:count]
    _check_contiguous(sel, folder)
    return sel


def match_frames(name: str, items, gt: np.ndarray, folder: Path, start: Optional[int] = None,
                  end: Optional[int] = None, allow_more_frames: bool = False):
    if not items:
        raise SequenceError(f"{folder}: no images found")
    if start is None:
        start = items[0][0]
    sel = _select(items, start, None, end, folder)
    if len(sel) < len(gt):
        raise SequenceError(
            f"{name}: {len(gt)} gt lines but only {len(sel)} frames from frame {start} in {folder}")
    if len(sel) > len(gt):
        if end is None and not allow_more_frames:
            raise SequenceError(
                f"{name}: fewer gt lines ({len(gt)}) than frames ({len(sel)}) in {folder}")
        sel = sel[: len(gt)]
    return sel
