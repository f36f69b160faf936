"""Distractor crossings: a stress test of drift to a look-alike.

On footage it was never tuned on, the tracker's worst failure is a person who walks past the target: the box
moves to the passer-by while they overlap and leaves with them. None of the development sequences shows that
event, so this module composes it from them. A *crossing clip* is the first frames of a development sequence
(the host) with a distractor of the target's class, cut from another development sequence (the donor) at
its ground-truth box, drawn in front of the target: it walks in from one side, covers the target and walks
on until the clip ends. The host's ground truth is unchanged.

A clip is written in the OTB layout (``img/0001.jpg ...``, ``groundtruth_rect.txt``) plus
``distractor_rect.txt`` (the distractor's box per frame, ``0,0,0,0`` before it appears), so the benchmark's
runner tracks it like any sequence. After the crossing (the distractor clear of the target again) a
tracker either stays on the target or has gone with the distractor; :func:`clip_scores` measures both.

The clips are synthetic: they tell whether a change addresses this failure, and are not used to choose
defaults (the protocol's development sequences are).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from rman_ros.bench import datasets as D
from rman_ros.bench.metrics import iou
from rman_ros.bench.report import find_trackers, numbered_run_dirs
from rman_ros.io import format_boxes, read_boxes, read_image, save_figure_atomic, write_text_atomic

CROSSINGS_FILE = Path(__file__).resolve().parent / "data" / "crossings.json"
DISTRACTOR_FILE = "distractor_rect.txt"


@dataclass(frozen=True)
class Crossing:
    host: str  # development sequence whose target is crossed
    donor: str  # development sequence whose ground-truth box at donor_frame (0-based) is the distractor
    donor_frame: int
    direction: int  # +1: the distractor walks from left to right, -1: from right to left

    @property
    def name(self) -> str:
        return f"{self.host}_x_{self.donor}_{'R' if self.direction > 0 else 'L'}"


@dataclass(frozen=True)
class Timing:
    pre: int = 30  # frames before the distractor appears
    cross: int = 30  # frames from its first appearance until it is clear of the target on the other side
    post: int = 40  # frames after that, while it walks on: the frames that are scored
    size: float = 1.1  # the distractor's size against the target's
    travel: float = 2.0  # it starts and ends `travel` target widths from the target's centre

    @property
    def frames(self) -> int:
        return self.pre + self.cross + self.post


def load_crossings(path: Optional[Path] = None) -> List[Crossing]:
    """The crossings of a JSON file (default: the repository's `bench/data/crossings.json`), each pair
    crossed in both directions."""
    data = json.loads(Path(path or CROSSINGS_FILE).read_text(encoding="utf-8"))
    out = []
    for row in data["pairs"]:
        for d in (1, -1):
            out.append(Crossing(str(row["host"]), str(row["donor"]), int(row["donor_frame"]), d))
    return out


def distractor_box(target: np.ndarray, t: float, direction: int, timing: Timing = Timing()) -> np.ndarray:
    """The distractor's (x, y, w, h) at crossing time t (0: appears, 1: clear of the target, > 1: walking on):
    `timing.size` times the target's box, level with its centre, its centre moving from -travel to +travel
    target widths across it (mirrored for direction -1) and on at the same speed."""
    x, y, w, h = (float(v) for v in target)
    dw, dh = w * timing.size, h * timing.size
    cx = x + w / 2 + direction * (-timing.travel + 2 * timing.travel * t) * w
    return np.array([cx - dw / 2, y + h / 2 - dh / 2, dw, dh])


def paste(image: np.ndarray, patch: np.ndarray, box: np.ndarray) -> np.ndarray:
    """`image` with `patch` resized into `box` through a feathered ellipse (the patch's corners, which hold
    the donor's background, fade out). Parts outside the image are cut off."""
    x, y = int(round(box[0])), int(round(box[1]))
    w, h = max(1, int(round(box[2]))), max(1, int(round(box[3])))
    H, W = image.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return image.copy()
    p = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx + 0.5 - w / 2) / (w / 2)) ** 2 + ((yy + 0.5 - h / 2) / (h / 2)) ** 2
    alpha = np.clip((1.15 - r2) / 0.3, 0.0, 1.0)[..., None]  # 1 inside 0.85 of the radius^2, 0 beyond 1.15
    out = image.astype(np.float32)
    sy, sx = slice(y0 - y, y1 - y), slice(x0 - x, x1 - x)
    out[y0:y1, x0:x1] = alpha[sy, sx] * p[sy, sx] + (1.0 - alpha[sy, sx]) * out[y0:y1, x0:x1]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _donor_patch(seq: D.Sequence, frame: int) -> np.ndarray:
    if not 0 <= frame < len(seq.frames):
        raise ValueError(f"donor frame {frame} outside {seq.name}'s {len(seq.frames)} frames")
    x, y, w, h = seq.gt[frame]
    image = read_image(seq.frames[frame])
    patch = image[max(int(y), 0):int(y + h), max(int(x), 0):int(x + w)]
    if patch.size == 0:
        raise ValueError(f"{seq.name} frame {frame}: the ground-truth box {seq.gt[frame]} holds no pixels")
    return patch


def build_clip(crossing: Crossing, specs: Dict[str, D.SequenceSpec], out_root: Path,
               timing: Timing = Timing()) -> Path:
    """Write the clip's folder under `out_root` (kept when complete: the ground truth is written last) and
    return it. `specs`: the development sequences by name."""
    folder = Path(out_root) / crossing.name
    if (folder / "groundtruth_rect.txt").is_file():
        return folder
    for name in (crossing.host, crossing.donor):
        if name not in specs:
            raise ValueError(f"crossing {crossing.name}: sequence {name} not found under the dataset root")
    host = D.load_sequence(specs[crossing.host])
    if len(host.frames) < timing.frames:
        raise ValueError(f"crossing {crossing.name}: {host.name} has {len(host.frames)} frames, "
                         f"the clip needs {timing.frames}")
    patch = _donor_patch(D.load_sequence(specs[crossing.donor]), crossing.donor_frame)
    gt = np.asarray(host.gt[:timing.frames], dtype=np.float64)
    if not (np.isfinite(gt).all() and (gt[:, 2:] > 0).all()):
        raise ValueError(f"crossing {crossing.name}: {host.name} has frames without a target box among its first "
                         f"{timing.frames}; the distractor walks relative to that box")
    dist = np.zeros_like(gt)
    for i in range(timing.frames):
        image = read_image(host.frames[i])
        if i >= timing.pre:
            dist[i] = distractor_box(gt[i], (i - timing.pre) / timing.cross, crossing.direction, timing)
            image = paste(image, patch, dist[i])
        path = folder / "img" / f"{i + 1:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"could not write {path}")
    write_text_atomic(folder / DISTRACTOR_FILE, format_boxes(dist))
    write_text_atomic(folder / "groundtruth_rect.txt", format_boxes(gt))
    return folder


def build_clips(crossings: Sequence[Crossing], dataset_root: Path, out_root: Path,
                timing: Timing = Timing(), log=None) -> List[Path]:
    specs = {s.name: s for s in D.discover(dataset_root)}
    folders = []
    for k, c in enumerate(crossings, 1):
        folders.append(build_clip(c, specs, out_root, timing))
        if log is not None:
            print(f"clip {k}/{len(crossings)}: {c.name}", file=log)
    return folders


def clip_scores(boxes: np.ndarray, gt: np.ndarray, dist: np.ndarray, timing: Timing = Timing()) -> Dict[str, float]:
    """Over the frames after the crossing: the share on the target (IoU with its box > 0.5) and the share on
    the distractor (IoU with its box > 0.3; its box is `timing.size` times the target's)."""
    after = slice(timing.pre + timing.cross, timing.frames)
    b, g, d = (np.asarray(a, dtype=np.float64)[after] for a in (boxes, gt, dist))
    return {"on_target": float(np.mean(iou(b, g) > 0.5)), "on_distractor": float(np.mean(iou(b, d) > 0.3))}


def score_results(results: Path, clips_root: Path, crossings: Sequence[Crossing],
                  timing: Timing = Timing()) -> Dict[str, Dict[str, object]]:
    """label -> {clips: {clip: [scores per run]}, on_target, on_distractor (means over clips and runs),
    kept, taken (runs that end on the target / on the distractor for at least half the scored frames),
    runs} for every result folder under `results` holding runs of the clips."""
    truth = {}  # clip -> (target boxes, distractor boxes), read once for every tracker
    for c in crossings:
        folder = Path(clips_root) / c.name
        if (folder / "groundtruth_rect.txt").is_file():
            truth[c.name] = read_boxes(folder / "groundtruth_rect.txt"), read_boxes(folder / DISTRACTOR_FILE)
    out: Dict[str, Dict[str, object]] = {}
    for label in find_trackers(results):
        per_clip: Dict[str, List[Dict[str, float]]] = {}
        for run_dir in numbered_run_dirs(Path(results) / label).values():
            for name, (gt, dist) in truth.items():
                r = run_dir / f"{name}.txt"
                if r.is_file():
                    per_clip.setdefault(name, []).append(clip_scores(read_boxes(r), gt, dist, timing))
        flat = [s for runs in per_clip.values() for s in runs]
        if not flat:
            continue
        out[label] = {
            "clips": per_clip, "runs": len(flat),
            "on_target": float(np.mean([s["on_target"] for s in flat])),
            "on_distractor": float(np.mean([s["on_distractor"] for s in flat])),
            "kept": int(sum(s["on_target"] >= 0.5 for s in flat)),
            "taken": int(sum(s["on_distractor"] >= 0.5 for s in flat))}
    return out


def format_scores(scores: Dict[str, Dict[str, object]]) -> str:
    """A table per tracker: kept / taken runs and the mean shares, then each clip's on-target shares."""
    lines = [f"{'tracker':>18s}  {'kept':>7s}  {'taken':>7s}  on target  on distractor"]
    for label, s in sorted(scores.items(), key=lambda kv: -kv[1]["on_target"]):
        lines.append(f"{label:>18s}  {s['kept']:3d}/{s['runs']:<3d}  {s['taken']:3d}/{s['runs']:<3d}  "
                     f"{s['on_target']:9.2f}  {s['on_distractor']:13.2f}")
    clips = sorted({c for s in scores.values() for c in s["clips"]})
    if clips:
        lines.append("")
        lines.append("on target after the crossing, per clip (one value per run):")
        for c in clips:
            cells = [f"{label}: " + " ".join(f"{r['on_target']:.2f}" for r in s["clips"].get(c, []))
                     for label, s in sorted(scores.items())]
            lines.append(f"  {c:28s} " + "  |  ".join(cells))
    return "\n".join(lines)


def plot_scores(scores: Dict[str, Dict[str, object]], path: Path) -> Optional[Path]:
    """Per clip, each tracker's mean share of the scored frames on the target (bars) and on the distractor
    (hatched bars stacked above, up from the target share) as a PNG; None when there is nothing to plot."""
    clips = sorted({c for s in scores.values() for c in s["clips"]})
    if not clips:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(scores)
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(8.0, min(16.0, 0.25 * len(clips) * len(labels))) + 3.0, 4.5))
    for k, label in enumerate(labels):
        runs = [scores[label]["clips"].get(c, []) for c in clips]
        on_t = [np.mean([r["on_target"] for r in rs]) if rs else np.nan for rs in runs]
        on_d = [np.mean([r["on_distractor"] for r in rs]) if rs else np.nan for rs in runs]
        x = np.arange(len(clips)) + (k - (len(labels) - 1) / 2) * width
        bars = ax.bar(x, on_t, width, label=f"{label}: on the target")
        ax.bar(x, on_d, width, bottom=on_t, color=bars.patches[0].get_facecolor(), alpha=0.35, hatch="//",
               label=f"{label}: on the distractor")
    ax.set_xticks(np.arange(len(clips)))
    ax.set_xticklabels(clips, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("share of the frames after the crossing")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("Distractor crossings: who stays on the target (mean over runs)", fontsize=10)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=110)
