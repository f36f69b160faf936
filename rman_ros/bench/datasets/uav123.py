"""UAV123's official layout: ``anno/<Set>/<seq>.txt`` and ``data_seq/<Set>/<seq>/``. (A UAV123 sequence
copied into the OTB layout, as ``../shared/data/uav123_10fps``, is read by the OTB module.)"""
from __future__ import annotations

from pathlib import Path
from typing import List

from .common import Sequence, SequenceSpec, list_images, match_frames, read_annotation


def load(spec: SequenceSpec) -> Sequence:
    gt = read_annotation(spec.anno)
    items = list_images(spec.path)
    sel = match_frames(spec.name, items, gt, spec.path)
    return Sequence(spec.name, [p for _, p in sel], gt, [], "uav123", spec.path, [n for n, _ in sel])



def specs(root: Path) -> List[SequenceSpec]:
    found = []
    anno_root, data_root = root / "anno", root / "data_seq"
    for anno in sorted(anno_root.rglob("*.txt")):
        rel = anno.relative_to(anno_root)
        if "att" in rel.parts[:-1]:
            continue
        img = data_root / rel.parent / anno.stem
        found.append(SequenceSpec(anno.stem, img, "uav123", anno=anno))
    return found




def is_root(root: Path) -> bool:
    return (root / "anno").is_dir() and (root / "data_seq").is_dir()
