"""Where an online update's time goes: the phases of the heads' training iterations, under torch.profiler.

Tracks the first FRAMES frames of a sequence (sync mode), then trains copies of the tracker's heads on its
sample pools as a regular update would (update_iters iterations at the update rate) REPEATS times under
torch.profiler, and prints the milliseconds of each phase of `rman_ros.core.updater.train_head` per update
and per iteration, for the RMAN head and, with score fusion, the memory-free head beside it.

    .venv/bin/python -m rman_ros.profile_update ../shared/data/otb/Woman [--frames 40] [--repeats 5]
        [--threads 2] [--config overrides.yaml]
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rman_ros.bench import datasets as D
from rman_ros.bench.progress import Progress
from rman_ros.core import RMANTracker
from rman_ros.core.config_files import load_config
from rman_ros.core.updater import PHASES, train_head
from rman_ros.io import read_image


def profile_head(head, cfg, pos, neg, repeats: int, seed: int) -> dict:
    """ms per update of every phase, and of the whole update timed without the profiler."""
    lr = cfg.lr_update * cfg.lr_update_factor
    head = copy.deepcopy(head)
    train_head(head, pos, neg, cfg.update_iters, lr, cfg, np.random.default_rng(seed))  # warm-up
    t0 = time.perf_counter()
    for r in range(repeats):
        train_head(head, pos, neg, cfg.update_iters, lr, cfg, np.random.default_rng(seed + r))
    wall = (time.perf_counter() - t0) / repeats * 1e3
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for r in range(repeats):
            train_head(head, pos, neg, cfg.update_iters, lr, cfg, np.random.default_rng(seed + r))
    totals = {e.key: e.cpu_time_total / 1e3 / repeats for e in prof.key_averages()}
    out = {p: totals.get(f"rman.train.{p}", 0.0) for p in PHASES}
    out["update (no profiler)"] = wall
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sequence", type=Path, help="OTB-style sequence folder (img/ + groundtruth_rect.txt)")
    ap.add_argument("--frames", type=int, default=40, help="frames tracked before profiling (fills the pools)")
    ap.add_argument("--repeats", type=int, default=5, help="updates profiled per head")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--config", help="RMANConfig overrides: a YAML file (flat or ROS params format) or a "
                    "preset name")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    seq = D.load_sequence(args.sequence)
    n = min(args.frames, len(seq.frames))
    tracker = RMANTracker(cfg)
    tracker.initialize(read_image(seq.frames[0]), tuple(seq.gt[0]))
    prog = Progress(n - 1, f"tracking {seq.name}")
    for i in range(1, n):
        tracker.track(read_image(seq.frames[i]))
        prog.update(i)
    prog.close()
    pos, neg = tracker.pools.snapshot()
    heads = {"RMAN head": (tracker.updater.front, tracker.updater.cfg)}
    if tracker.aux is not None:
        heads["memory-free head (score fusion)"] = (tracker.aux.front, tracker.aux.cfg)
    print(f"{seq.name}: pools of {len(pos)} positive and {len(neg)} negative frames after {n} frames; "
          f"{cfg.update_iters} iterations per update, {args.threads} threads, {args.repeats} updates per head")
    for name, (head, hcfg) in heads.items():
        res = profile_head(head, hcfg, pos, neg, args.repeats, cfg.seed)
        print(f"\n{name}: {res['update (no profiler)']:.1f} ms per update without the profiler")
        print(f"  {'phase':16s} {'ms/update':>10s} {'ms/iteration':>13s}")
        for p in PHASES:
            print(f"  {p:16s} {res[p]:10.1f} {res[p] / max(1, hcfg.update_iters):13.2f}")
    tracker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
