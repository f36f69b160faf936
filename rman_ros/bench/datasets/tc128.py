"""TempleColor-128 layout: ``<Seq>/img/`` + ``<Seq>_gt.txt`` (+ optional ``<Seq>_frames.txt``)."""
from __future__ import annotations

from pathlib import Path
from typing import List

from rman_ros.io import read_number_rows

from .common import Sequence, SequenceError, SequenceSpec, list_images, match_frames, read_annotation


def load(spec: SequenceSpec) -> Sequence:
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
    sel = match_frames(spec.name, items, gt, img_dir, start, end)
    return Sequence(spec.name, [p for _, p in sel], gt, [], "tc128", folder, [n for n, _ in sel])



def specs(folder: Path) -> List[SequenceSpec]:
    """The TC-128 spec of one folder (empty when it is not a TC-128 sequence)."""
    if (folder / "img").is_dir() and (folder / f"{folder.name}_gt.txt").is_file():
        return [SequenceSpec(folder.name, folder, "tc128")]
    return []
