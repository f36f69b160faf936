"""Run the VOT-style supervised experiment for trackers on a dataset."""
from __future__ import annotations

import json
from pathlib import Path

from rman_ros.bench import datasets as D
from rman_ros.bench import vot
from rman_ros.bench.args import split_csv
from rman_ros.bench.trackers import make_tracker, parse_tracker
from rman_ros.core.config_files import load_overrides
from rman_ros.io import read_image, write_text_atomic


def _traj_text(traj) -> str:
    lines = []
    for e in traj:
        if e == vot.INIT:
            lines.append("1")
        elif e == vot.FAIL:
            lines.append("2")
        elif e == vot.SKIP:
            lines.append("0")
        else:
            lines.append(",".join(f"{v:.4f}" for v in e))
    return "\n".join(lines) + "\n"


def run_vot(args):
    overrides = load_overrides(args.config)
    seqs = [D.load_sequence(s) for s in D.select(D.discover(args.dataset_root), split_csv(args.sequences))]
    out = {}
    for name in split_csv(args.trackers):
        spec = parse_tracker(name, overrides if name.lower().startswith("rman") else None)
        trajs, gts = {}, {}
        for seq in seqs:
            trajs[seq.name] = vot.run_supervised(lambda: make_tracker(spec), seq.frames, seq.gt, read=read_image)
            gts[seq.name] = seq.gt
            # VOT convention for stored trajectories: 1 = init, 2 = failure, 0 = skipped
            write_text_atomic(Path(args.out) / "vot" / spec.label / f"{seq.name}.txt", _traj_text(trajs[seq.name]))
        out[spec.label] = vot.evaluate(trajs, gts)
    write_text_atomic(Path(args.out) / "vot" / "scores.json", json.dumps(out, indent=1) + "\n")
    return out
