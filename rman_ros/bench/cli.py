"""Command line: ``python -m rman_ros.bench {run,report,protocol,ablation,crossing,scale-probe,mal-probe,visualize,vot,list} ...``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from rman_ros.bench.args import split_csv as _csv


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset-root", required=True, type=Path, help="dataset folder (layout auto-detected)")
    p.add_argument("--sequences", help="comma-separated sequence names or a set name (OTB2013, OTB2015)")


def _add_run_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="results folder")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--repeat", type=int, default=1, help="runs per tracker and sequence")
    p.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads per worker (default 1; "
                   "forced to 1 when workers > 1; an RMAN config's num_threads wins)")
    p.add_argument("--seed", type=int, default=0, help="seed of run 1 (run k uses seed + k - 1); added to an "
                   "RMAN config's own seed (default 0)")
    p.add_argument("--config", help="RMANConfig overrides for the rman trackers: a YAML file (flat, or a ROS "
                   "params file such as a preset) or a preset name; their result folder gets the file's stem as "
                   "suffix, e.g. rman-fast")
    p.add_argument("--published-root", type=Path, help="folder with published_results/<Name>/ "
                   "(default: looked up next to the dataset root)")
    p.add_argument("--model-dir", type=Path, help="folder with peer trackers' model files (nanotrack: its two "
                   "ONNX files; default: $RMAN_PEER_MODELS, else a models/ folder next to the dataset root or "
                   "above it)")


def _with_peer_models(specs, model_dir, dataset_root):
    """Point model-based peers at their model files; one whose files are missing is skipped with a message
    (the models are data that a checkout does not have)."""
    import dataclasses

    from rman_ros.bench.trackers import find_nanotrack_models

    out = []
    for spec in specs:
        if spec.kind == "nanotrack":
            try:
                spec = dataclasses.replace(spec, model_dir=str(find_nanotrack_models(model_dir, dataset_root)))
            except FileNotFoundError as exc:
                print(f"skipping nanotrack: {exc}", file=sys.stderr)
                continue
        out.append(spec)
    return out


def _run_trackers(args, tracker_names: List[str], label_suffix: str = "") -> int:
    from rman_ros.bench import datasets as D
    from rman_ros.bench import runner
    from rman_ros.bench.trackers import parse_tracker

    cfg = getattr(args, "config", None)
    from rman_ros.core.config_files import load_overrides

    overrides = load_overrides(cfg)
    if cfg and not label_suffix:
        label_suffix = f"-{Path(cfg).stem}"  # rman variants are named by their overrides file
    specs = [parse_tracker(t, overrides if t.lower().startswith("rman") else None,
                           label_suffix if t.lower().startswith("rman") else "")
             for t in tracker_names]
    specs = _with_peer_models(specs, getattr(args, "model_dir", None), args.dataset_root)
    if not specs:
        print("no tracker left to run", file=sys.stderr)
        return 2
    seqs = D.select(D.discover(args.dataset_root), _csv(args.sequences))
    if not seqs:
        print(f"no sequences found under {args.dataset_root}", file=sys.stderr)
        return 2
    tasks = runner.build_tasks(specs, seqs, args.out, args.repeat, args.seed, args.published_root,
                               args.dataset_root, threads=args.threads)
    print(f"{len(tasks)} runs: trackers {', '.join(s.label for s in specs)} on {len(seqs)} sequences "
          f"(workers={args.workers}, repeat={args.repeat}) -> {args.out}", file=sys.stderr)
    results = runner.run(tasks, workers=args.workers)
    print(runner.summarize(results, args.out))
    return 1 if any(r["status"] == "failed" for r in results) else 0


def cmd_run(args) -> int:
    return _run_trackers(args, _csv(args.trackers) or [])


def cmd_report(args) -> int:
    from rman_ros.bench.report import build_report
    from rman_ros.bench.stages import speed_verdict, stage_line

    scores = build_report(args.results, args.dataset_root, _csv(args.trackers), _csv(args.sequences),
                          title=args.title)
    csrt = scores.get("csrt", {}).get("fps")
    for n, s in sorted(scores.items(), key=lambda kv: -kv[1]["auc"]):
        fps = f"{s['fps']:.1f}" if s.get("fps") is not None and s["fps"] == s["fps"] else "-"
        if fps != "-" and csrt:
            fps += f" ({s['fps'] / csrt:.2f}x CSRT)"
        print(f"{n:>16s}  AUC {s['auc']:.3f}  DP20 {s['dp20']:.3f}  OS0.5 {s['os50']:.3f}  "
              f"CLE {s['cle']:7.2f}  FPS {fps}  ({s['sequences']} seq)")
        if s.get("stages"):
            print(" " * 18 + stage_line(s["stages"]))
    if args.speed_target and csrt:
        for n, s in sorted(scores.items(), key=lambda kv: -kv[1]["auc"]):
            if n.startswith("rman") and s.get("fps") is not None and s["fps"] == s["fps"]:
                print(speed_verdict(n, s["fps"], csrt, args.speed_target, s.get("stages")))
    elif args.speed_target:
        print("no csrt results in this folder: no speed target verdict")
    summary = Path(args.results) / "run_summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text(encoding="utf-8") or "{}")
        cpu = data.get("cpu") if isinstance(data, dict) else None
        if cpu:
            print(f"speed measured on {cpu} (the latest run in this folder)")
    print(f"report written to {Path(args.results) / 'report'}")
    return 0


def cmd_ablation(args) -> int:
    from rman_ros.bench.ablation import run_ablation

    return run_ablation(args, _run_trackers)


def cmd_protocol(args) -> int:
    from rman_ros.bench.protocol import run_protocol

    return run_protocol(args)


def cmd_crossing(args) -> int:
    from rman_ros.bench import crossing as X
    from rman_ros.io import write_text_atomic

    crossings = X.load_crossings(args.crossings)
    clips = Path(args.out) / "clips"
    print(f"building {len(crossings)} crossing clips in {clips} (kept once built)", file=sys.stderr)
    X.build_clips(crossings, args.dataset_root, clips, log=sys.stderr)
    model_dir = args.model_dir
    if model_dir is None:  # peers' model files are looked up beside the real dataset root, not the clips
        from rman_ros.bench.trackers import find_nanotrack_models

        try:
            model_dir = find_nanotrack_models(None, args.dataset_root)
        except FileNotFoundError:
            pass
    run_args = argparse.Namespace(**dict(vars(args), dataset_root=clips, model_dir=model_dir,
                                          sequences=",".join(c.name for c in crossings)))
    rc = _run_trackers(run_args, _csv(args.trackers) or [])
    scores = X.score_results(args.out, clips, crossings)
    write_text_atomic(Path(args.out) / "crossing_scores.json", json.dumps(scores, indent=1) + "\n")
    png = X.plot_scores(scores, Path(args.out) / "crossing.png")
    print(X.format_scores(scores))
    print(f"scores written to {Path(args.out) / 'crossing_scores.json'}" + (f" and {png}" if png else ""))
    return rc


def cmd_scale_probe(args) -> int:
    from rman_ros.bench import datasets as D
    from rman_ros.bench.scale_probe import probe_dataset
    from rman_ros.core.config_files import load_config
    from rman_ros.io import write_text_atomic

    specs = D.select(D.discover(args.dataset_root), _csv(args.sequences))
    if not specs:
        raise ValueError(f"no sequences found under {args.dataset_root}")
    cfg = load_config(args.config)
    print(f"scale filter alone on the ground-truth centres of {len(specs)} sequences "
          f"(scales {cfg.scale_filter_scales}, step {cfg.scale_filter_step}, lr {cfg.scale_filter_lr}, "
          f"scale_rate {cfg.scale_rate}"
          + ("; learning from the ground-truth boxes" if args.learn_from_truth else "") + ")", flush=True)
    scores = probe_dataset((D.load_sequence(s) for s in specs), cfg, log=sys.stdout,
                           learn_from_truth=args.learn_from_truth)
    if args.out is not None:
        write_text_atomic(Path(args.out), json.dumps(scores, indent=1) + "\n")
    return 0


def cmd_mal_probe(args) -> int:
    import torch

    from rman_ros.bench import datasets as D
    from rman_ros.bench.mal_probe import probe_dataset
    from rman_ros.bench.trackers import parse_tracker
    from rman_ros.core.config_files import load_overrides
    from rman_ros.io import write_text_atomic

    specs = D.select(D.discover(args.dataset_root), _csv(args.sequences))
    if not specs:
        raise ValueError(f"no sequences found under {args.dataset_root}")
    spec = parse_tracker(args.tracker, load_overrides(args.config))
    if spec.kind != "rman":
        raise ValueError(f"--tracker must be rman or rman:<variant>, got {args.tracker!r}")
    torch.set_num_threads(max(1, args.threads))
    print(f"activation weights of {spec.label} on {len(specs)} sequences"
          + (f", first {args.frames} frames each" if args.frames else ""), flush=True)
    scores = probe_dataset((D.load_sequence(s) for s in specs), spec, args.frames, log=sys.stdout)
    if args.out is not None:
        write_text_atomic(Path(args.out), json.dumps(scores, indent=1) + "\n")
    return 0


def cmd_visualize(args) -> int:
    from rman_ros.bench.visualize import main as vis_main

    return vis_main(args)


def cmd_vot(args) -> int:
    from rman_ros.bench.votrun import run_vot

    scores = run_vot(args)
    print(json.dumps({k: {m: v for m, v in s.items() if m != "per_sequence"} for k, s in scores.items()},
                     indent=1))
    return 0


def cmd_list(args) -> int:
    from rman_ros.bench import datasets as D

    for s in D.select(D.discover(args.dataset_root), _csv(args.sequences)):
        try:
            seq = D.load_sequence(s)
            print(f"{s.name:20s} {s.layout:7s} {len(seq.frames):6d} frames  {','.join(seq.attributes)}")
        except D.SequenceError as exc:
            print(f"{s.name:20s} {s.layout:7s} ERROR {exc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rman_ros.bench", description="RMAN evaluation toolkit")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run trackers on sequences (one-pass evaluation)")
    _add_common(p)
    p.add_argument("--trackers", required=True,
                   help="comma-separated: rman, rman:<variant> (an ablation of rman_ros.core.variants, or the "
                        "preset rman:fast), csrt, kcf, mil, mosse, medianflow, tld, boosting, nanotrack, "
                        "published:<Name>")
    _add_run_opts(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="scores, tables and plots of a results folder")
    p.add_argument("--results", required=True, type=Path)
    _add_common(p)
    p.add_argument("--trackers", help="comma-separated result folders (default: all)")
    p.add_argument("--title", default="Benchmark report")
    p.add_argument("--speed-target", type=float, default=0.0,
                   help="also say whether each rman result reaches this multiple of CSRT's FPS (e.g. 0.6), by "
                        "how much it misses and which stages take the time (needs csrt in the folder)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("ablation", help="run + report the RMAN ablation set (paper Fig. 6)")
    _add_common(p)
    _add_run_opts(p)
    p.add_argument("--variants", help="comma-separated subset of rman_ros.core.variants.ABLATIONS")
    p.set_defaults(func=cmd_ablation)

    p = sub.add_parser("protocol", help="paired comparison of a candidate against a baseline on the fixed "
                       "tune/check split (the rule for changing a default)")
    p.add_argument("--results", required=True, type=Path, help="results folder holding both trackers' runs")
    p.add_argument("--dataset-root", required=True, type=Path,
                   help="folder holding every sequence of the split (e.g. ../shared/data)")
    p.add_argument("--baseline", default="rman", help="result folder of the current default (default: rman)")
    p.add_argument("--candidate", required=True, help="result folder of the candidate (e.g. rman-nofusion)")
    p.add_argument("--peers", help="comma-separated result folders of peer trackers for the speed comparison "
                   "(e.g. csrt)")
    p.add_argument("--split", type=Path, help="split file (default: the repository's dev_split.json)")
    p.add_argument("--out", type=Path, help="output folder (default: RESULTS/protocol/CANDIDATE_vs_BASELINE)")
    p.add_argument("--speed-change", action="store_true",
                   help="judge a speed option or preset: it keeps accuracy when faster and neither half loses "
                        "more than --tolerance AUC (a default still has to help both halves)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="AUC a speed change may cost each half (default 0.01)")
    p.set_defaults(func=cmd_protocol)

    p = sub.add_parser("crossing", help="stress test: a look-alike walks across the target (clips composed from "
                       "the development sequences); does the tracker stay on the target?")
    p.add_argument("--dataset-root", required=True, type=Path,
                   help="folder holding the crossings' host and donor sequences (e.g. ../shared/data)")
    p.add_argument("--trackers", required=True, help="comma-separated, as for run (e.g. rman,csrt)")
    p.add_argument("--crossings", type=Path, help="crossings file (default: the repository's crossings.json)")
    _add_run_opts(p)
    p.set_defaults(func=cmd_crossing)

    p = sub.add_parser("scale-probe", help="the box-size estimate alone: the scale filter on the ground-truth "
                       "centres (seconds per sequence); size error and bias per sequence")
    _add_common(p)
    p.add_argument("--config", help="RMANConfig overrides (YAML file or preset name): scale_filter_*, scale_rate")
    p.add_argument("--out", type=Path, help="also write the scores as JSON to this file")
    p.add_argument("--learn-from-truth", action="store_true", help="the filter learns from the ground-truth "
                   "box each frame instead of its own: the error left is the detection's alone")
    p.set_defaults(func=cmd_scale_probe)

    p = sub.add_parser("mal-probe", help="does the memory activation layer (Eq. 1-2) give history patches "
                       "unlike the target low weights? Activation weights against each patch's similarity to "
                       "the first target, per sequence")
    _add_common(p)
    p.add_argument("--tracker", default="rman", help="rman (the default config) or rman:<variant> whose "
                   "aggregation is mal (default rman)")
    p.add_argument("--config", help="RMANConfig overrides (YAML file or preset name)")
    p.add_argument("--frames", type=int, help="track only the first N frames of each sequence")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    p.set_defaults(func=cmd_mal_probe)

    p = sub.add_parser("visualize", help="Sec. III-C figures (activation weights, attention maps, PCC)")
    p.add_argument("--sequence", required=True, type=Path, help="sequence folder")
    p.add_argument("--frame", type=int, default=50, help="frame index (0-based, >= 1) to analyse")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", help="YAML file of RMANConfig overrides")
    p.add_argument("--attention-variants", help="variants for Fig. 4 (default baseline,baseline_lstm_mal,rman)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--distractor", help="x,y,w,h of the distractor for Fig. 5 negatives (default: a background box)")
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("vot", help="VOT-2016-style supervised experiment (accuracy, robustness, EAO)")
    _add_common(p)
    p.add_argument("--trackers", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", help="YAML file of RMANConfig overrides")
    p.set_defaults(func=cmd_vot)

    p = sub.add_parser("list", help="list the sequences found under a dataset root")
    _add_common(p)
    p.set_defaults(func=cmd_list)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
