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

import re
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from . import groundtruth_txt, otb, tc128, uav123
from .common import (ATTRIBUTES, IMAGE_EXTS, Sequence, SequenceError, SequenceSpec, attributes_for, list_images,
                     norm_name, polygon_to_box, read_annotation, sequence_sets)
from .otb import OTB_FRAME_RANGES, OTB_INIT_OMIT

__all__ = ["ATTRIBUTES", "IMAGE_EXTS", "OTB_FRAME_RANGES", "OTB_INIT_OMIT", "Sequence", "SequenceError",
           "SequenceSpec", "attributes_for", "discover", "list_images", "load_sequence", "polygon_to_box",
           "read_annotation", "select", "sequence_sets"]

# one module per layout: layout name -> loader
_LOADERS = {"otb": otb.load, "tc128": tc128.load, "vot": groundtruth_txt.load, "got10k": groundtruth_txt.load,
            "lasot": groundtruth_txt.load, "uav123": uav123.load}


def _specs_in_folder(folder: Path) -> List[SequenceSpec]:
    """Sequence specs for one candidate sequence folder (empty if it is not one)."""
    return otb.specs(folder) or tc128.specs(folder) or groundtruth_txt.specs(folder)


def discover(root: Union[str, Path], max_depth: int = 3) -> List[SequenceSpec]:
    """Find all sequences below ``root`` (sorted by name, unique names)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found: {root}")
    if uav123.is_root(root):
        return uav123.specs(root)
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
    by_norm = {norm_name(s.name): s for s in specs}
    out, missing = [], []
    for n in wanted:
        s = by_norm.get(norm_name(n))
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
