"""Paper Fig. 6 ablation: run every variant of ``rman_ros.core.variants.ABLATIONS`` and report."""
from __future__ import annotations

import sys
from pathlib import Path

from rman_ros.bench.args import split_csv


def variant_names(selected=None):
    """Names of the ablation variants (ImportError with a clear message if core lacks them)."""
    try:
        from rman_ros.bench.trackers import rman_variants

        variants = rman_variants()
    except ImportError as exc:
        raise ImportError(f"rman_ros.core.variants.ABLATIONS is not available yet ({exc})") from exc
    if selected:
        unknown = [v for v in selected if v not in variants]
        if unknown:
            raise ValueError(f"unknown variants {unknown}; known: {list(variants)}")
        return list(selected)
    return list(variants)


def run_ablation(args, run_trackers) -> int:
    from rman_ros.bench.report import build_report

    names = variant_names(split_csv(args.variants))
    rc = run_trackers(args, [f"rman:{n}" for n in names])
    from rman_ros.bench.trackers import parse_tracker

    suffix = f"-{Path(args.config).stem}" if getattr(args, "config", None) else ""
    labels = [parse_tracker(f"rman:{n}", label_suffix=suffix).label for n in names]
    scores = build_report(args.out, args.dataset_root, labels, split_csv(args.sequences),
                          title="RMAN ablation (paper Fig. 6 set)")
    for n, s in sorted(scores.items(), key=lambda kv: -kv[1]["auc"]):
        print(f"{n:>28s}  AUC {s['auc']:.3f}  DP20 {s['dp20']:.3f}  FPS {s.get('fps')}")
    print(f"report written to {args.out / 'report'}", file=sys.stderr)
    return rc
