"""Sec. III-C figures for one sequence and frame (data from ``rman_ros.core.analysis``; drawing here).

* ``fig3_activation.png`` - activation weights theta over the K history patches (Eq. 1) for the
  target candidate and background candidates (paper Fig. 3);
* ``fig4_attention.png`` - input-gradient attention maps of the target patch for several variants
  (paper Fig. 4: Baseline, RMAN without the losses La/Lb, full RMAN);
* ``fig5_pcc.png`` - histograms of the Pearson correlation of classifier-input features for
  positive-positive and positive-negative sample pairs, negatives drawn around a distractor box
  (paper Fig. 5);
* ``history_scores.png`` - not in the paper: per frame, the gt box's score when paired with the tracked
  history, the first-frame history and its own features repeated K times (``analysis.history_scores``),
  and the success threshold; a memory that generalises scores the three alike;
* ``visualize_data.npz`` - the numbers behind the plots.

The tracker runs (synchronously, from the gt of frame 0) up to the chosen frame; the analysis then
uses the gt box of that frame as the target.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from rman_ros.bench.args import split_csv
from rman_ros.core.config_files import load_overrides
from rman_ros.io import save_figure_atomic

DEFAULT_ATTENTION_VARIANTS = ("baseline", "baseline_lstm_mal", "rman")


def track_until(spec, seq, frame: int, before_track=None):
    """An initialised RMANTracker that has tracked frames 1..frame-1; before_track(image, i, tracker), when
    given, is called before each of those frames is tracked."""
    from rman_ros.bench.trackers import make_tracker
    from rman_ros.io import read_image

    adapter = make_tracker(spec)
    adapter.initialize(read_image(seq.frames[0]), tuple(seq.gt[0]))
    for i in range(1, frame):
        image = read_image(seq.frames[i])
        if before_track is not None:
            before_track(image, i, adapter._tracker)
        adapter.track(image)
    return adapter


def jitter_boxes(box, n: int, trans: float, scale: float, rng) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2, y + h / 2
    s = np.sqrt(w * h)
    d = rng.normal(0, trans * s, size=(n, 2))
    f = scale ** rng.uniform(-1, 1, size=(n, 1))
    ww, hh = w * f[:, 0], h * f[:, 0]
    return np.c_[cx + d[:, 0] - ww / 2, cy + d[:, 1] - hh / 2, ww, hh]


def background_boxes(box, shape, n: int = 3) -> np.ndarray:
    """Boxes of the target's size away from it (inside the image where possible)."""
    x, y, w, h = (float(v) for v in box)
    H, W = shape[:2]
    offsets = [(1.6, 0.0), (-1.6, 0.0), (0.0, 1.6), (0.0, -1.6), (1.6, 1.6), (-1.6, -1.6)]
    out = []
    for dx, dy in offsets:
        nx = min(max(x + dx * w, 0.0), max(W - w, 0.0))
        ny = min(max(y + dy * h, 0.0), max(H - h, 0.0))
        out.append((nx, ny, w, h))
    from rman_ros.bench.metrics import iou

    arr = np.asarray(out)
    keep = iou(arr, np.repeat(np.asarray([box], float), len(arr), 0)) < 0.3
    arr = arr[keep] if keep.any() else arr
    return arr[:n]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def draw_activation(image, boxes: np.ndarray, theta: np.ndarray, labels: List[str], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    axes[0].imshow(image)
    cmap = plt.get_cmap("tab10")
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        axes[0].add_patch(plt.Rectangle((b[0], b[1]), b[2], b[3], fill=False, color=cmap(i), lw=2))
        axes[0].text(b[0], b[1] - 3, lab, color=cmap(i), fontsize=8)
    axes[0].set_axis_off()
    K = theta.shape[1]
    width = 0.8 / len(boxes)
    for i, lab in enumerate(labels):
        axes[1].bar(np.arange(K) + (i - (len(boxes) - 1) / 2) * width, theta[i], width, color=cmap(i), label=lab)
    axes[1].set_xticks(np.arange(K))
    axes[1].set_xticklabels([f"T-{K - j}" for j in range(K)])
    axes[1].set_ylabel("activation weight θ (cosine)")
    axes[1].set_title("Activation weights over the K history patches", fontsize=10)
    axes[1].legend(fontsize=7)
    axes[1].grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def draw_attention(patch_image: np.ndarray, maps: Dict[str, np.ndarray], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(2.6 * (len(maps) + 1), 2.9), dpi=80)
    axes = np.atleast_1d(axes)
    axes[0].imshow(patch_image)
    axes[0].set_title("target", fontsize=9)
    for ax, (name, m) in zip(axes[1:], maps.items()):
        ax.imshow(m / (m.max() + 1e-12), cmap="jet")
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def draw_pcc(pcc: Dict[str, np.ndarray], path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=80)
    allv = np.concatenate([pcc["pos_pos"], pcc["pos_neg"]])
    lo = float(max(-1.0, np.min(allv) - 0.01)) if allv.size else -1.0
    bins = np.linspace(lo, 1.0, 41)
    ax.hist(pcc["pos_pos"], bins=bins, alpha=0.6, density=True, label=f"pos-pos (mean {np.mean(pcc['pos_pos']):.2f})")
    ax.hist(pcc["pos_neg"], bins=bins, alpha=0.6, density=True, label=f"pos-neg (mean {np.mean(pcc['pos_neg']):.2f})")
    ax.set_xlabel("Pearson correlation coefficient")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def draw_history_scores(frames: np.ndarray, scores: Dict[str, np.ndarray], threshold: float, path: Path,
                        title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=80)
    names = {"tracked": "tracked history", "first": "first-frame history", "own": "the box itself x K"}
    for key, label in names.items():
        ax.plot(frames + 1, scores[key], marker=".", label=label)
    ax.axhline(threshold, color="gray", ls="--", lw=1, label="success threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("score of the gt box")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def visualize(sequence: Path, frame: int, out: Path, overrides: Optional[dict] = None,
              attention_variants=DEFAULT_ATTENTION_VARIANTS, distractor=None, n_samples: int = 40,
              seed: int = 0) -> Dict[str, Path]:
    from rman_ros.bench import datasets as D
    from rman_ros.bench.metrics import iou
    from rman_ros.bench.trackers import parse_tracker, rman_variants
    from rman_ros.core import analysis
    from rman_ros.io import read_image

    seq = D.load_sequence(sequence)
    if not 1 <= frame < len(seq.frames):
        raise ValueError(f"--frame must be in 1..{len(seq.frames) - 1} for {seq.name}")
    if not np.all(np.isfinite(seq.gt[frame])):
        raise ValueError(f"frame {frame} of {seq.name} has no gt box")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image = read_image(seq.frames[frame])
    target = seq.gt[frame]
    hist_rows = []  # (frame, tracked, first, own) for the gt box of each frame before it is tracked

    def record(img, i, tracker):
        if np.all(np.isfinite(seq.gt[i])) and np.all(seq.gt[i][2:] > 0):
            hs = analysis.history_scores(tracker, img, seq.gt[i][None])
            hist_rows.append((i, hs["tracked"][0], hs["first"][0], hs["own"][0]))

    main = track_until(parse_tracker("rman", overrides), seq, frame, record)
    trk = main._tracker
    files: Dict[str, Path] = {}
    data: Dict[str, np.ndarray] = {}
    if hist_rows:
        rows = np.asarray(hist_rows, float)
        data["history_frames"] = rows[:, 0].astype(int)
        hs = {"tracked": rows[:, 1], "first": rows[:, 2], "own": rows[:, 3]}
        data.update({f"history_{k}": v for k, v in hs.items()})
        files["history"] = draw_history_scores(data["history_frames"], hs, trk.cfg.success_threshold,
                                               out / "history_scores.png",
                                               f"{seq.name}: gt-box score by the history it is paired with")

    # Fig. 3
    bg = background_boxes(target, image.shape)
    cand = np.vstack([target[None], bg])
    labels = ["target"] + [f"background {i + 1}" for i in range(len(bg))]
    try:
        theta = analysis.activation_weights(trk, image, cand)
        data["theta"], data["theta_boxes"] = theta, cand
        files["fig3"] = draw_activation(image, cand, theta, labels, out / "fig3_activation.png")
    except ValueError as exc:
        print(f"fig3 skipped: {exc}", file=sys.stderr)

    # Fig. 5
    pos = jitter_boxes(target, n_samples * 4, 0.1, 1.3, rng)
    pos = pos[iou(pos, np.repeat(target[None], len(pos), 0)) > 0.7][:n_samples]
    dis = np.asarray(distractor, float) if distractor is not None else bg[0]
    neg = jitter_boxes(dis, n_samples * 4, 0.1, 1.3, rng)
    neg = neg[iou(neg, np.repeat(target[None], len(neg), 0)) < 0.3][:n_samples]
    if len(pos) >= 2 and len(neg) >= 1:
        pcc = analysis.pcc_pairs(analysis.classifier_inputs(trk, image, pos),
                                 analysis.classifier_inputs(trk, image, neg))
        data["pcc_pos_pos"], data["pcc_pos_neg"] = pcc["pos_pos"], pcc["pos_neg"]
        files["fig5"] = draw_pcc(pcc, out / "fig5_pcc.png",
                                 f"{seq.name} frame {frame + 1}: classifier-input features")

    # Fig. 4
    maps: Dict[str, np.ndarray] = {}
    variants = rman_variants()
    for v in attention_variants:
        if v == "rman" and not overrides:
            adapter = main
        elif v in variants:
            adapter = track_until(parse_tracker(f"rman:{v}", overrides), seq, frame)
        else:
            raise ValueError(f"unknown variant {v!r}; known: {list(variants)}")
        maps[v] = analysis.attention_map(adapter._tracker, image, target)
        data[f"attention_{v}"] = maps[v]
        if adapter is not main:
            adapter.close()
    main.close()
    if maps:
        import cv2

        x, y, w, h = target
        pad_w, pad_h = w * 16 / 75, h * 16 / 75  # the crop adds 16 px context at 107 px
        x0, y0 = int(max(0, x - pad_w)), int(max(0, y - pad_h))
        x1, y1 = int(min(image.shape[1], x + w + pad_w)), int(min(image.shape[0], y + h + pad_h))
        side = next(iter(maps.values())).shape
        crop = cv2.resize(image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)], (side[1], side[0]))
        files["fig4"] = draw_attention(crop, maps, out / "fig4_attention.png")
    np.savez_compressed(out / "visualize_data.npz", **data)
    files["data"] = out / "visualize_data.npz"
    return files


def main(args) -> int:
    try:
        from rman_ros.core import analysis  # noqa: F401
    except ImportError as exc:
        print("error: visualize is not available yet: rman_ros.core.analysis is missing "
              f"({exc}).", file=sys.stderr)
        return 3
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(int(args.threads))
    variants = split_csv(args.attention_variants) or list(DEFAULT_ATTENTION_VARIANTS)
    distractor = [float(v) for v in args.distractor.split(",")] if args.distractor else None
    files = visualize(args.sequence, args.frame, args.out, load_overrides(args.config), variants, distractor)
    for k, p in files.items():
        print(f"{k}: {p}")
    return 0
