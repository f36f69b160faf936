"""OTB layout: ``<Seq>/img/0001.jpg`` + ``groundtruth_rect.txt`` (two-target videos:
``groundtruth_rect.1.txt`` / ``.2.txt``), with the official frame-range exceptions."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .common import Sequence, SequenceError, SequenceSpec, attributes_for, list_images, match_frames, read_annotation

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



def load(spec: SequenceSpec) -> Sequence:
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
    sel = match_frames(spec.name, items, gt, img_dir, start, end,
                        allow_more_frames=start is not None)
    omit = OTB_INIT_OMIT.get(base, 0)
    if omit:
        sel, gt = sel[omit:], gt[omit:]
    return Sequence(spec.name, [p for _, p in sel], gt, attributes_for(spec.name), "otb", folder,
                    [n for n, _ in sel])



def specs(folder: Path) -> List[SequenceSpec]:
    """OTB sequence specs of one folder (empty when it is not an OTB sequence)."""
    name = folder.name
    if not (folder / "img").is_dir():
        return []
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
    return []
