"""``groundtruth.txt`` layouts: VOT, GOT-10k and LaSOT (frames in the folder or in color/, img/, imgs/)."""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from rman_ros.io import read_number_rows

from .common import Sequence, SequenceError, SequenceSpec, list_images, match_frames, read_annotation


def _image_folder(folder: Path) -> Path:
    for sub in ("color", "img", "imgs"):
        if (folder / sub).is_dir():
            return folder / sub
    return folder


def load(spec: SequenceSpec) -> Sequence:
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
    sel = match_frames(spec.name, items, gt, img_dir)
    return Sequence(spec.name, [p for _, p in sel], gt, [], spec.layout, folder, [n for n, _ in sel])



def specs(folder: Path) -> List[SequenceSpec]:
    """The spec of one folder holding ``groundtruth.txt`` (empty otherwise), its layout told by the files
    beside it."""
    if not (folder / "groundtruth.txt").is_file():
        return []
    if (folder / "full_occlusion.txt").is_file() or (folder / "out_of_view.txt").is_file():
        layout = "lasot"
    elif (folder / "meta_info.ini").is_file() or (folder / "absence.label").is_file() \
            or folder.name.startswith("GOT-10k_"):
        layout = "got10k"
    else:
        layout = "vot"
    return [SequenceSpec(folder.name, folder, layout)]
