"""Dataset layouts and sequence loading (OTB, UAV123, TempleColor-128, VOT, GOT-10k, LaSOT).

Two entry points:

* :func:`discover(root)` walks a dataset folder and returns lightweight
  :class:`SequenceSpec` entries (name, folder, layout). Nothing is validated
  yet, so one broken sequence does not hide the others.
* :func:`load_sequence(path_or_spec)` builds a :class:`Sequence` (``.name``,
  ``.frames`` list of image paths, ``.gt`` float64 (N, 4) x,y,w,h with NaN rows
  for frames without annotation, ``.attributes``) and raises
  :class:`SequenceError` with a clear message when frames and annotation do
  not line up (missing frame, fewer gt lines than frames, ...).

Ground-truth numbers are kept exactly as written in the files (OTB's 1-based
convention included), like the Python toolkits do.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from rman_ros.io import read_number_rows

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
ATTRIBUTES = ("IV", "SV", "OCC", "DEF", "MB", "FM", "IPR", "OPR", "OV", "BC", "LR")
_DATA_DIR = Path(__file__).resolve().parent / "data"

# OTB-100 frame-range exceptions (first frame number, last frame number or None,
# frames omitted at the start of the evaluation, as in the official configuration).
OTB_FRAME_RANGES: Dict[str, Tuple[int, Optional[int]]] = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
    "BlurCar1": (247, None),
    "BlurCar3": (3, None),
    "BlurCar4": (18, None),
}
OTB_INIT_OMIT: Dict[str, int] = {"Tiger1": 5}


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


# --------------------------------------------------------------------------- helpers
def _norm_name(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


@lru_cache(maxsize=1)
def _attribute_table() -> Dict[str, List[str]]:
    doc = json.loads((_DATA_DIR / "otb_attributes.json").read_text(encoding="utf-8"))
    return {_norm_name(k): list(v) for k, v in doc["sequences"].items()}


def attributes_for(name: str) -> List[str]:
    """OTB attribute labels of a sequence (empty list if unknown)."""
    return list(_attribute_table().get(_norm_name(name), []))


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


def _match_frames(name: str, items, gt: np.ndarray, folder: Path, start: Optional[int] = None,
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


# --------------------------------------------------------------------------- loaders
def _load_otb(spec: SequenceSpec) -> Sequence:
    folder = spec.path
    img_dir = folder / "img"
    if spec.target is None:
        gt_file = folder / "groundtruth_rect.txt"
    else:
        gt_file = folder / f"groundtruth_rect.{spec.target}.txt"
    if not gt_file.is_file():
        raise SequenceError(f"{spec.name}: annotation file not found: {gt_file}")
    if not img_dir.is_dir():
        raise SequenceError(f"{spec.name}: image folder not found: {img_dir}")
    gt = read_annotation(gt_file)
    items = list_images(img_dir)
    base = folder.name
    start, end = OTB_FRAME_RANGES.get(base, OTB_FRAME_RANGES.get(spec.name, (None, None)))
    sel = _match_frames(spec.name, items, gt, img_dir, start, end,
                        allow_more_frames=start is not None)
    omit = OTB_INIT_OMIT.get(base, 0)
    if omit:
        sel, gt = sel[omit:], gt[omit:]
    return Sequence(spec.name, [p for _, p in sel], gt, attributes_for(spec.name), "otb", folder,
                    [n for n, _ in sel])


def _load_tc128(spec: SequenceSpec) -> Sequence:
    folder = spec.path
    gt_file = folder / f"{folder.name}_gt.txt"
    gt = read_annotation(gt_file)
    img_dir = folder / "img"
    items = list_images(img_dir)
    start = end = None
    fr = folder / f"{folder.name}_frames.txt"
    if fr.is_file():
        rows = read_number_rows(fr)
        if not rows or len(rows[0]) < 2:
            raise SequenceError(f"{fr}: expected 'start,end'")
        start, end = int(rows[0][0]), int(rows[0][1])
    sel = _match_frames(spec.name, items, gt, img_dir, start, end)
    return Sequence(spec.name, [p for _, p in sel], gt, [], "tc128", folder, [n for n, _ in sel])


def _image_folder(folder: Path) -> Path:
    for sub in ("color", "img", "imgs"):
        if (folder / sub).is_dir():
            return folder / sub
    return folder


def _load_groundtruth_txt(spec: SequenceSpec) -> Sequence:
    """VOT / GOT-10k / LaSOT: ``groundtruth.txt`` next to (or above) the frames."""
    folder = spec.path
    gt = read_annotation(folder / "groundtruth.txt")
    img_dir = _image_folder(folder)
    items = list_images(img_dir)
    if not items:
        raise SequenceError(f"{spec.name}: no images found in {img_dir}")
    if spec.layout == "got10k":
        absence = folder / "absence.label"
        if len(gt) == 1 and len(items) > 1:
            # test split: only the first box is public
            gt = np.vstack([gt, np.full((len(items) - 1, 4), np.nan)])
        elif absence.is_file():
            flags = [r[0] for r in read_number_rows(absence)]
            if len(flags) == len(gt):
                gt = gt.copy()
                gt[np.asarray(flags) > 0] = np.nan
    sel = _match_frames(spec.name, items, gt, img_dir)
    return Sequence(spec.name, [p for _, p in sel], gt, [], spec.layout, folder, [n for n, _ in sel])


def _load_uav123(spec: SequenceSpec) -> Sequence:
    gt = read_annotation(spec.anno)
    items = list_images(spec.path)
    sel = _match_frames(spec.name, items, gt, spec.path)
    return Sequence(spec.name, [p for _, p in sel], gt, [], "uav123", spec.path, [n for n, _ in sel])


_LOADERS = {
    "otb": _load_otb,
    "tc128": _load_tc128,
    "vot": _load_groundtruth_txt,
    "got10k": _load_groundtruth_txt,
    "lasot": _load_groundtruth_txt,
    "uav123": _load_uav123,
}


# --------------------------------------------------------------------------- discovery
def _specs_in_folder(folder: Path) -> List[SequenceSpec]:
    """Sequence specs for one candidate sequence folder (empty if it is not one)."""
    name = folder.name
    if (folder / "img").is_dir():
        multi = sorted(folder.glob("groundtruth_rect.*.txt"))
        multi = [p for p in multi if re.fullmatch(r"groundtruth_rect\.\d+\.txt", p.name)]
        if len(multi) == 1 and not (folder / "groundtruth_rect.txt").is_file():
            # e.g. OTB-100 Human4: only groundtruth_rect.2.txt; the toolkit keeps the folder name
            return [SequenceSpec(name, folder, "otb", int(multi[0].name.split(".")[1]))]
        if multi:
            return [SequenceSpec(f"{name}-{p.name.split('.')[1]}", folder, "otb",
                                 int(p.name.split(".")[1])) for p in multi]
        if (folder / "groundtruth_rect.txt").is_file():
            return [SequenceSpec(name, folder, "otb")]
        if (folder / f"{name}_gt.txt").is_file():
            return [SequenceSpec(name, folder, "tc128")]
    if (folder / "groundtruth.txt").is_file():
        if (folder / "full_occlusion.txt").is_file() or (folder / "out_of_view.txt").is_file():
            layout = "lasot"
        elif (folder / "meta_info.ini").is_file() or (folder / "absence.label").is_file() \
                or name.startswith("GOT-10k_"):
            layout = "got10k"
        else:
            layout = "vot"
        return [SequenceSpec(name, folder, layout)]
    return []


def _uav_specs(root: Path) -> List[SequenceSpec]:
    specs = []
    anno_root, data_root = root / "anno", root / "data_seq"
    for anno in sorted(anno_root.rglob("*.txt")):
        rel = anno.relative_to(anno_root)
        if "att" in rel.parts[:-1]:
            continue
        img = data_root / rel.parent / anno.stem
        specs.append(SequenceSpec(anno.stem, img, "uav123", anno=anno))
    return specs


def discover(root: Union[str, Path], max_depth: int = 3) -> List[SequenceSpec]:
    """Find all sequences below ``root`` (sorted by name, unique names)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found: {root}")
    if (root / "anno").is_dir() and (root / "data_seq").is_dir():
        return _uav_specs(root)
    found = _specs_in_folder(root)
    if found:
        return found
    specs: List[SequenceSpec] = []
    frontier = [root]
    for _ in range(max_depth):
        nxt = []
        for d in frontier:
            for sub in sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")):
                s = _specs_in_folder(sub)
                if s:
                    specs.extend(s)
                elif sub.name not in ("img", "color", "imgs"):
                    nxt.append(sub)
        frontier = nxt
    specs.sort(key=lambda s: s.name.lower())
    names = [s.name for s in specs]
    dups = {n for n in names if names.count(n) > 1}
    if dups:
        raise ValueError(f"duplicate sequence names under {root}: {sorted(dups)}")
    return specs


def select(specs: List[SequenceSpec], names: Optional[List[str]]) -> List[SequenceSpec]:
    """Keep the specs named in ``names`` (matching ignores case, '-' and '_'); a set name
    such as ``OTB2013`` expands to its list. Unknown names raise ValueError."""
    if not names:
        return list(specs)
    sets = sequence_sets()
    wanted: List[str] = []
    for n in names:
        wanted.extend(sets[n] if n in sets else [n])
    by_norm = {_norm_name(s.name): s for s in specs}
    out, missing = [], []
    for n in wanted:
        s = by_norm.get(_norm_name(n))
        if s is None:
            missing.append(n)
        elif s not in out:
            out.append(s)
    if missing and not any(n in sets for n in names):
        raise ValueError(f"sequences not found: {', '.join(missing)}")
    return out


def load_sequence(seq: Union[str, Path, SequenceSpec], target: Optional[int] = None) -> Sequence:
    """Load one sequence from a folder path or a :class:`SequenceSpec`.

    For a two-target OTB folder pass ``target`` (1 or 2), or a path like
    ``<root>/Jogging-2`` (the folder ``<root>/Jogging`` with target 2).
    """
    if isinstance(seq, SequenceSpec):
        spec = seq
    else:
        path = Path(seq)
        if not path.is_dir():
            m = re.fullmatch(r"(.+)-(\d)", path.name)
            if m and (path.parent / m.group(1)).is_dir():
                path, target = path.parent / m.group(1), int(m.group(2))
            else:
                raise SequenceError(f"sequence folder not found: {path}")
        specs = _specs_in_folder(path)
        if not specs:
            raise SequenceError(f"{path}: no known sequence layout (expected img/ + groundtruth_rect.txt, "
                                f"groundtruth.txt, or <name>_gt.txt)")
        if target is not None:
            specs = [s for s in specs if s.target == target]
            if not specs:
                raise SequenceError(f"{path}: no groundtruth_rect.{target}.txt")
        elif len(specs) > 1:
            raise SequenceError(f"{path}: has {len(specs)} targets; pass target=1..{len(specs)}")
        spec = specs[0]
    seq_obj = _LOADERS[spec.layout](spec)
    if len(seq_obj.frames) == 0:
        raise SequenceError(f"{spec.name}: no frames")
    if not np.all(np.isfinite(seq_obj.gt[0])):
        raise SequenceError(f"{spec.name}: the first gt box (init) is not a valid box")
    return seq_obj
