"""Check the tracker on an accelerator against the CPU, then time it on real frames.

    python -m rman_ros.device_check [--device cuda] [--sequence OTB_SEQUENCE_DIR] [--config overrides.yaml ...]
        [--out report.json]

Each check runs the same computation on the CPU and on the device (backbone, RoIAlign, the prefix-shared
memory, scoring, one online update) and prints the difference (relative error, or the largest probability
difference) next to its tolerance. Then, given a sequence, the tracker follows it on the device and prints
FPS, per-stage times and AUC: with the default config, or once per --config file of overrides (with
--cpu-reference, the CPU tracks the same frames too). Exit status 1 when a check fails or tracking raises,
2 for a bad argument. Run it on a robot before setting `device: cuda`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from rman_ros.bench.datasets import SequenceError, load_sequence
from rman_ros.core import RMANConfig, RMANTracker
from rman_ros.core.config_files import load_config
from rman_ros.core.features import FeatureExtractor
from rman_ros.core.image_utils import crop_region, image_to_tensor, region_geometry, synthetic_pattern
from rman_ros.core.model import RMANHead
from rman_ros.core.pools import FrameSamples
from rman_ros.core.roi_align import roi_align
from rman_ros.core.runtime import resolve_device
from rman_ros.core.updater import train_head
from rman_ros.io import read_image, write_text_atomic

CPU = torch.device("cpu")


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ||a - b|| / ||b|| (Frobenius), both brought to the CPU in float64."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _test_image(seq_frames: List[Path]) -> np.ndarray:
    """The sequence's first frame, or a deterministic textured image when there is none."""
    if seq_frames:
        return read_image(seq_frames[0])
    return synthetic_pattern()


def check_backbone(dev: torch.device, image: np.ndarray, bf16: bool) -> float:
    """The backbone map of one search region (fp32 on the CPU against `dev`, with or without bf16)."""
    cfg = RMANConfig(bf16=False)
    box = np.array([image.shape[1] / 3, image.shape[0] / 3, image.shape[1] / 4, image.shape[0] / 4])
    origin, scale = region_geometry(box, cfg.target_px, cfg.region_px)
    crop = crop_region(image, origin, scale, cfg.region_px)
    ref = FeatureExtractor(cfg, CPU).run_cnn(image_to_tensor(crop, CPU))
    out = FeatureExtractor(cfg.replace(bf16=bf16), dev).run_cnn(image_to_tensor(crop, dev))
    return _rel_diff(out, ref)


def check_roi_align(dev: torch.device) -> float:
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn((1, 96, 31, 31), generator=g)
    xy = torch.rand((256, 2), generator=g) * 200
    boxes = torch.cat([xy, xy + 8 + torch.rand((256, 2), generator=g) * 60], 1)
    ref = roi_align(fmap, boxes, 8.0, 3, 2, 4.0)
    return _rel_diff(roi_align(fmap.to(dev), boxes.to(dev), 8.0, 3, 2, 4.0), ref)


def _head(dev: torch.device, dim: int = 512) -> RMANHead:
    torch.manual_seed(0)
    return RMANHead(dim).to(dev).eval()


def check_prefix_sharing(dev: torch.device) -> float:
    """Prefix-shared forward against every candidate unrolled over K+1 steps, on the device."""
    g = torch.Generator().manual_seed(1)
    hists = torch.randn((3, 5, 512), generator=g).to(dev)
    idx = torch.tensor([0, 1, 2, 2, 1, 0, 0, 2]).to(dev)
    x = torch.randn((8, 512), generator=g).to(dev)
    head = _head(dev)
    with torch.no_grad():
        shared = head(hists, idx, x)["logits"]
        naive = head.forward_naive(torch.cat([hists[idx], x[:, None]], 1))["logits"]
    return _rel_diff(shared, naive)


def check_scoring(dev: torch.device, bf16: bool) -> float:
    """Candidate probabilities of one history, CPU fp32 against the device (bf16 products or not)."""
    g = torch.Generator().manual_seed(2)
    hist, x = torch.randn((5, 512), generator=g), torch.randn((256, 512), generator=g)
    ref = _head(CPU).score(hist, x)
    head = _head(dev)
    head.set_bf16_scoring(bf16)
    with torch.no_grad():
        return float((head.score(hist.to(dev), x.to(dev)).cpu() - ref).abs().max())


def check_training(dev: torch.device) -> float:
    """One online update (15 iterations from identical samples and seeds) on both: the largest
    difference of the trained head's probabilities."""
    g = torch.Generator().manual_seed(3)
    hist, pos = torch.randn((5, 512), generator=g), torch.randn((64, 512), generator=g) + 0.5
    neg, probe = torch.randn((256, 512), generator=g) - 0.5, torch.randn((64, 512), generator=g)
    cfg = RMANConfig()
    probs = []
    for d in (CPU, dev):
        head = _head(d)
        h = hist.to(d)
        train_head(head, [FrameSamples(0, h, pos.to(d))], [FrameSamples(0, h, neg.to(d))],
                   cfg.update_iters, cfg.lr_update, cfg, np.random.default_rng(0))
        with torch.no_grad():
            probs.append(head.score(h, probe.to(d)).cpu())
    return float((probs[1] - probs[0]).abs().max())


def run_checks(dev: torch.device, image: np.ndarray) -> List[Dict]:
    """(name, measure, tolerance) of every CPU-vs-device comparison, measured."""
    checks: List[tuple] = [
        ("backbone fp32 (rel. error; TF32 convolutions allowed)", lambda: check_backbone(dev, image, False),
         1e-2),
        ("backbone bf16 autocast vs CPU fp32 (rel.)", lambda: check_backbone(dev, image, True), 1e-1),
        ("RoIAlign (rel.)", lambda: check_roi_align(dev), 1e-6),
        ("prefix-shared memory vs full unroll, on the device (rel.)", lambda: check_prefix_sharing(dev), 1e-5),
        ("scores fp32 (abs. probability)", lambda: check_scoring(dev, False), 1e-4),
        ("scores with bf16 products (abs. probability)", lambda: check_scoring(dev, True), 3e-2),
        ("15-iteration update, then scores (abs. probability)", lambda: check_training(dev), 1e-3),
    ]
    out = []
    for name, fn, tol in checks:
        row = {"check": name, "tolerance": tol}
        try:
            row["value"] = fn()
            row["ok"] = bool(np.isfinite(row["value"]) and row["value"] <= tol)
        except Exception as exc:  # reported as a failed check with its message, never swallowed
            row.update(value=None, ok=False, error=f"{type(exc).__name__}: {exc}")
        out.append(row)
        shown = f"{row['value']:.2e}" if row["value"] is not None else row["error"]
        print(f"  [{'ok' if row['ok'] else 'FAIL'}] {name}: {shown} (tolerance {tol:g})", flush=True)
    return out


def track_sequence(seq, device: str, frames: Optional[int], config: RMANConfig) -> Dict:
    """Track `seq` (a bench Sequence) on `device`: boxes, seconds per frame, mean stage times, AUC."""
    from rman_ros.bench.metrics import auc, success_curve
    n = len(seq) if frames is None else min(frames, len(seq))
    tracker = RMANTracker(config.replace(device=device))
    warm_s = tracker.warm_up() if device != "cpu" else None  # as the node and the benchmark do
    boxes, times, stages = [], [], {}
    try:
        for i in range(n):
            img = read_image(seq.frames[i])
            t0 = time.perf_counter()
            r = tracker.initialize(img, seq.init_box) if i == 0 else tracker.track(img)
            times.append(time.perf_counter() - t0)
            if r.get("update_error"):
                raise RuntimeError(f"frame {i}: update failed: {r['update_error']}")
            boxes.append(r["box"])
            if i:
                for k, v in r["timings"].items():
                    stages[k] = stages.get(k, 0.0) + v
    finally:
        tracker.close()
    boxes_a = np.asarray(boxes)
    per_frame = float(np.sum(times[1:]) / max(n - 1, 1))
    return {"device": device, "frames": n, "warm_up_s": warm_s, "init_s": times[0], "fps": 1.0 / per_frame if per_frame else None,
            "stage_ms": {k: 1e3 * v / max(n - 1, 1) for k, v in stages.items()},
            "auc": auc(success_curve(boxes_a, seq.gt[:n])), "boxes": boxes_a.tolist()}


def _print_tracking(r: Dict) -> None:
    stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stage_ms"].items())
    warm = f"warm-up {r['warm_up_s']:.2f} s, " if r["warm_up_s"] is not None else ""
    print(f"  {r['config']}, {r['device']}: {r['frames']} frames, {warm}init {r['init_s']:.2f} s, {r['fps']:.1f} FPS, "
          f"AUC {r['auc']:.3f}; ms per frame: {stages}", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rman_ros.device_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="device to check against the CPU (default cuda)")
    p.add_argument("--sequence", type=Path, help="OTB-style sequence folder to track on the device")
    p.add_argument("--frames", type=int, help="track only the first N frames")
    p.add_argument("--config", action="append", help="RMANConfig overrides for the tracking run: a YAML file "
                   "(flat or ROS params format) or a preset name; repeat it to track once per source (default: "
                   "the default config)")
    p.add_argument("--cpu-reference", action="store_true", help="also track the sequence on the CPU")
    p.add_argument("--out", type=Path, help="JSON report (written atomically)")
    args = p.parse_args(argv)
    try:
        dev = resolve_device(args.device)
        configs = [(Path(src).stem, load_config(src)) for src in args.config or []]
        seq = load_sequence(args.sequence) if args.sequence is not None else None
    except (ValueError, OSError, SequenceError) as exc:
        print(f"device_check: {exc}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    print(f"device_check: torch {torch.__version__}, device {dev} ({name})", flush=True)
    report: Dict = {"torch": torch.__version__, "device": str(dev), "device_name": name}
    report["checks"] = run_checks(dev, _test_image(seq.frames if seq else []))
    ok = all(c["ok"] for c in report["checks"])
    if seq is not None:
        print(f"device_check: tracking {seq.name}", flush=True)
        devices = [str(dev)] + (["cpu"] if args.cpu_reference else [])
        report["tracking"] = []
        for label, config in configs or [("default", RMANConfig())]:
            for d in devices:
                try:
                    r = dict(track_sequence(seq, d, args.frames, config), config=label)
                except Exception as exc:  # a crash on the device is a failed check, reported
                    print(f"  {label}, {d}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                    report["tracking"].append({"device": d, "config": label,
                                               "error": f"{type(exc).__name__}: {exc}"})
                    ok = False
                    continue
                _print_tracking(r)
                report["tracking"].append(r)
    report["ok"] = ok
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(report, indent=1))
    print(f"device_check: {'all checks passed' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
