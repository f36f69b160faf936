"""The default-selection protocol: a paired comparison of two result folders on the fixed tune/check split.

A change to a default is kept only when it helps both halves of the split (``data/dev_split.json``), paired
over at least :data:`MIN_SEEDS` seeds. A speed option or preset (``speed_change``) keeps accuracy when it is
faster and costs neither half more than :data:`SPEED_TOLERANCE` AUC; that alone does not make it a default. Run ``k`` of a tracker (``T/S.txt`` for k = 1, ``T/repeat<k>/S.txt``
after) used seed ``k - 1``, so run k of the baseline and run k of the candidate form one pair. Only runs that
have every sequence of the split in both folders are paired.

The comparison reports, per half and overall, the mean AUC of each side and the paired delta (mean, standard
error, seeds better), the delta per attribute and per sequence, the speed of both sides and of any peer
trackers in the same results folder, and the published MDNet AUC on each half.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from rman_ros.bench import datasets as D
from rman_ros.bench import metrics as M
from rman_ros.bench.report import numbered_run_dirs, read_run
from rman_ros.io import read_boxes, save_figure_atomic, write_text_atomic

MIN_SEEDS = 6
SPEED_TOLERANCE = 0.01
HALVES = ("tune", "check")
ATTRIBUTES = ("IV", "SV", "OCC", "DEF", "MB", "FM", "IPR", "OPR", "OV", "BC", "LR")


def split_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "dev_split.json"


def load_split(path: Optional[Path] = None) -> Dict[str, List[str]]:
    """{'tune': [...], 'check': [...]} from the split file (the repository's own by default)."""
    path = Path(path) if path is not None else split_path()
    data = json.loads(path.read_text(encoding="utf-8"))
    halves = {h: list(data.get(h) or []) for h in HALVES}
    if not all(halves.values()):
        raise ValueError(f"{path}: needs non-empty 'tune' and 'check' lists")
    both = set(halves["tune"]) & set(halves["check"])
    if both:
        raise ValueError(f"{path}: sequences in both halves: {sorted(both)}")
    return halves


@dataclass
class Run:
    """Per-sequence AUC and timing of one run (one seed) of one tracker."""

    auc: Dict[str, float]
    size_err: Dict[str, float]  # metrics.size_error per sequence
    aspect_err: Dict[str, float]  # metrics.aspect_error per sequence
    off: Dict[str, float]  # metrics.off_target per sequence
    frames: int
    seconds: Optional[float]  # None when a sequence has no timing file

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else float("nan")


def load_runs(tracker_dir: Path, sequences: Dict[str, D.Sequence]) -> Dict[int, Run]:
    """Complete runs (every sequence present) of a tracker folder, by run number."""
    if not Path(tracker_dir).is_dir():
        raise FileNotFoundError(f"no results folder {tracker_dir}")
    runs = {}
    for k, d in numbered_run_dirs(Path(tracker_dir)).items():
        auc, size_err, aspect_err, off, frames, seconds = {}, {}, {}, {}, 0, 0.0
        for name, seq in sequences.items():
            run = read_run(d, seq)
            if run is None:
                break
            boxes, times = run
            auc[name] = M.sequence_metrics(boxes, seq.gt)["auc"]
            size_err[name] = M.size_error(boxes, seq.gt)
            aspect_err[name] = M.aspect_error(boxes, seq.gt)
            off[name] = M.off_target(boxes, seq.gt)
            if seconds is not None and times is not None:
                frames += len(times)
                seconds += float(np.sum(times))
            else:
                seconds = None
        else:
            runs[k] = Run(auc, size_err, aspect_err, off, frames, seconds)
    return runs


def _mean_se(x: np.ndarray) -> Dict[str, float]:
    x = np.asarray(x, dtype=np.float64)
    se = float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return {"mean": float(np.mean(x)), "se": se, "better": int(np.sum(x > 0)), "worse": int(np.sum(x < 0)),
            "n": int(len(x))}


def _group_mean(run: Run, names: List[str], field: str = "auc") -> float:
    values = [getattr(run, field)[n] for n in names]
    return float(np.mean(values) if field == "auc" else np.nanmean(values))


def published_auc(folder: Path, sequences: Dict[str, D.Sequence]) -> Dict[str, float]:
    """Per-sequence AUC of a published tracker's per-frame results (sequences it has)."""
    out = {}
    for name, seq in sequences.items():
        f = Path(folder) / f"{name}.txt"
        if f.is_file():
            out[name] = M.sequence_metrics(read_boxes(f), seq.gt)["auc"]
    return out


def compare(results: Path, dataset_root: Path, baseline: str, candidate: str,
            split: Optional[Dict[str, List[str]]] = None, peers: Optional[List[str]] = None,
            published: str = "MDNet", speed_change: bool = False,
            tolerance: float = SPEED_TOLERANCE) -> Dict[str, object]:
    """The paired comparison of `candidate` against `baseline` (result folder labels under `results`)."""
    split = split or load_split()
    wanted = split["tune"] + split["check"]
    specs = D.select(D.discover(dataset_root), wanted)
    sequences = {s.name: D.load_sequence(s) for s in specs}
    halves = {h: [n for n in split[h]] for h in HALVES}
    base = load_runs(Path(results) / baseline, sequences)
    cand = load_runs(Path(results) / candidate, sequences)
    pairs = sorted(set(base) & set(cand))
    out: Dict[str, object] = {"baseline": baseline, "candidate": candidate, "split": halves,
                              "runs": {"baseline": sorted(base), "candidate": sorted(cand), "paired": pairs}}
    if not pairs:
        out["verdict"] = "no paired runs: both folders need complete runs (every sequence of the split)"
        return out
    groups = {"all": wanted, **halves}
    pub_dir = Path(dataset_root) / "published_results" / published
    pub = published_auc(pub_dir, sequences) if pub_dir.is_dir() else {}
    if pub and len(pub) < len(wanted):  # the comparison with the published tracker on the sequences it has
        groups[f"{published}'s {len(pub)}"] = [n for n in wanted if n in pub]
    for a in ATTRIBUTES:
        names = [n for n in wanted if a in sequences[n].attributes]
        if names:
            groups[a] = names
    table = {}
    for g, names in groups.items():
        b = np.array([_group_mean(base[k], names) for k in pairs])
        c = np.array([_group_mean(cand[k], names) for k in pairs])
        table[g] = {"sequences": len(names), "baseline": float(b.mean()), "candidate": float(c.mean()),
                    "delta": _mean_se(c - b)}
        for field in ("size_err", "aspect_err", "off"):  # why AUC moved: box size and shape, or frames off target
            table[g][field] = {side: float(np.mean([_group_mean(runs[k], names, field) for k in pairs]))
                               for side, runs in (("baseline", base), ("candidate", cand))}
    out["groups"] = table
    out["per_sequence"] = {n: {"baseline": float(np.mean([base[k].auc[n] for k in pairs])),
                               "candidate": float(np.mean([cand[k].auc[n] for k in pairs])),
                               "delta": _mean_se([cand[k].auc[n] - base[k].auc[n] for k in pairs])}
                           for n in wanted}
    speed = {}
    for label, runs in ((baseline, base), (candidate, cand)):
        timed = [runs[k] for k in pairs if runs[k].seconds]
        if timed:
            speed[label] = sum(r.frames for r in timed) / sum(r.seconds for r in timed)
    for p in peers or []:
        peer_runs = load_runs(Path(results) / p, sequences)
        timed = [r for r in peer_runs.values() if r.seconds]
        if timed:
            speed[p] = sum(r.frames for r in timed) / sum(r.seconds for r in timed)
            out.setdefault("peers", {})[p] = {g: float(np.mean([_group_mean(r, n) for r in peer_runs.values()]))
                                              for g, n in groups.items()}
    out["fps"] = speed
    summary = Path(results) / "run_summary.json"
    if summary.is_file():  # the machine of the latest run in this folder (speed is only comparable on one)
        try:
            out["cpu"] = json.loads(summary.read_text(encoding="utf-8")).get("cpu")
        except (ValueError, AttributeError):
            pass
    if pub:
        out["published"] = {"name": published, **{g: float(np.mean([pub[n] for n in names if n in pub]))
                                                  for g, names in groups.items() if any(n in pub for n in names)}}
    if speed_change:
        ratio = speed[candidate] / speed[baseline] if speed.get(candidate) and speed.get(baseline) else None
        out["verdict"] = speed_verdict(table, len(pairs), ratio, tolerance)
    else:
        out["verdict"] = verdict(table, len(pairs))
    return out


def speed_verdict(table: Dict[str, Dict[str, object]], n_pairs: int, speedup: Optional[float],
                  tolerance: float = SPEED_TOLERANCE) -> str:
    """A speed option or preset: 'keep' when, over at least MIN_SEEDS pairs, the candidate is faster and the
    mean paired delta of each half is at least -tolerance."""
    if n_pairs < MIN_SEEDS:
        return f"undecided: {n_pairs} paired seeds, the protocol needs {MIN_SEEDS}"
    if speedup is None:
        return "undecided: no timings for both sides"
    if speedup <= 1.0:
        return f"reject: the speed change is not faster ({speedup:.2f}x)"
    lost = [h for h in HALVES if table[h]["delta"]["mean"] < -tolerance]
    if lost:
        return (f"reject: {speedup:.2f}x faster, but the {' and '.join(lost)} half loses more than "
                f"{tolerance:.3f} AUC")
    return f"keep (speed change): {speedup:.2f}x faster, and neither half loses more than {tolerance:.3f} AUC"


def verdict(table: Dict[str, Dict[str, object]], n_pairs: int) -> str:
    """'keep' only when the candidate's mean paired delta is positive on both halves with at least MIN_SEEDS
    pairs and more seeds better than worse on each half."""
    helps = {h: table[h]["delta"]["mean"] > 0 and table[h]["delta"]["better"] > table[h]["delta"]["worse"]
             for h in HALVES}
    if n_pairs < MIN_SEEDS:
        return f"undecided: {n_pairs} paired seeds, the protocol needs {MIN_SEEDS}"
    if all(helps.values()):
        return "keep: the candidate helps both halves"
    hurt = [h for h in HALVES if not helps[h]]
    return f"reject: the candidate does not help the {' and '.join(hurt)} half"


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def markdown(cmp: Dict[str, object]) -> str:
    lines = [f"# Protocol: {cmp['candidate']} against {cmp['baseline']}", ""]
    runs = cmp["runs"]
    lines.append(f"Paired runs (seed = run - 1): {runs['paired']} (baseline has {runs['baseline']}, "
                 f"candidate has {runs['candidate']}).")
    lines.append(f"**Verdict: {cmp['verdict']}**")
    if "groups" not in cmp:
        return "\n".join(lines) + "\n"
    pub = cmp.get("published", {})
    peers = cmp.get("peers", {})
    head = "| group | seqs | baseline | candidate | delta (mean ± s.e.) | seeds better/worse |"
    if pub:
        head += f" {pub['name']} (published) |"
    for p in peers:
        head += f" {p} |"
    lines += ["", head, "|" + "---|" * (head.count("|") - 1)]
    for g, row in cmp["groups"].items():
        d = row["delta"]
        cells = [g, str(row["sequences"]), f"{row['baseline']:.3f}", f"{row['candidate']:.3f}",
                 f"{_signed(d['mean'])} ± {d['se']:.3f}", f"{d['better']}/{d['worse']}"]
        if pub:
            cells.append(f"{pub[g]:.3f}" if g in pub else "")
        for p in peers:
            cells.append(f"{peers[p][g]:.3f}" if g in peers[p] else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Why AUC moved, per half: the box-size error (RMS of the log side-length ratio to the ground "
              "truth, 0.10 = sides about 10 % off), the aspect-ratio error (RMS of half the log ratio of the "
              "aspect ratios: 0.10 = one side about 10 % too long and the other too short) and the share of "
              "frames spent off the target (IoU <= 0.05: lost or on a distractor), mean over sequences and "
              "paired seeds; each as baseline -> candidate.", "",
              "| group | size error | aspect error | off-target |", "|---|---|---|---|"]
    for g in ("all",) + HALVES:
        row = cmp["groups"][g]
        if "size_err" in row:
            cells = [f"{row[f]['baseline']:.3f} -> {row[f]['candidate']:.3f}"
                     for f in ("size_err", "aspect_err", "off")]
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
    lines += ["", "| sequence | half | baseline | candidate | delta | seeds better/worse |",
              "|---|---|---|---|---|---|"]
    half_of = {n: h for h, names in cmp["split"].items() for n in names}
    for n, row in sorted(cmp["per_sequence"].items(), key=lambda kv: kv[1]["delta"]["mean"]):
        d = row["delta"]
        lines.append(f"| {n} | {half_of[n]} | {row['baseline']:.3f} | {row['candidate']:.3f} | "
                     f"{_signed(d['mean'])} | {d['better']}/{d['worse']} |")
    if cmp.get("fps"):
        cpu = f" on {cmp['cpu']}" if cmp.get("cpu") else ""
        lines += ["", f"Speed over the paired runs{cpu} (frames / seconds of tracking, init frames included; "
                  "only comparable between runs made on the same machine in the same conditions):", ""]
        base_fps = cmp["fps"].get(cmp["baseline"])
        for label, f in cmp["fps"].items():
            rel = f" ({f / base_fps:.2f}x {cmp['baseline']})" if base_fps and label != cmp["baseline"] else ""
            lines.append(f"- {label}: {f:.1f} FPS{rel}")
    return "\n".join(lines) + "\n"


def plot(cmp: Dict[str, object], path: Path) -> Optional[Path]:
    """Per-sequence and per-attribute paired deltas as horizontal bars (PNG)."""
    if "groups" not in cmp:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    half_of = {n: h for h, names in cmp["split"].items() for n in names}
    seqs = sorted(cmp["per_sequence"].items(), key=lambda kv: kv[1]["delta"]["mean"])
    groups = list(cmp["groups"].items())
    fig, axes = plt.subplots(1, 2, figsize=(11, max(5, 0.28 * len(seqs))))
    for ax, rows, title in ((axes[0], seqs, "per sequence"), (axes[1], groups, "per half and attribute")):
        names = [n for n, _ in rows]
        vals = [r["delta"]["mean"] for _, r in rows]
        errs = [0 if np.isnan(r["delta"]["se"]) else r["delta"]["se"] for _, r in rows]
        colors = ["tab:blue" if half_of.get(n) == "tune" else "tab:orange" if half_of.get(n) == "check"
                  else "tab:gray" for n in names]
        ax.barh(range(len(names)), vals, xerr=errs, color=colors)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("paired AUC delta (candidate - baseline)")
        ax.set_title(title + (" (blue: tune, orange: check)" if rows is seqs else ""), fontsize=9)
    fig.suptitle(f"{cmp['candidate']} vs {cmp['baseline']}: {cmp['verdict']}", fontsize=10)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=110)


def run_protocol(args) -> int:
    split = load_split(args.split) if args.split else load_split()
    cmp = compare(args.results, args.dataset_root, args.baseline, args.candidate, split,
                  [p for p in (args.peers or "").split(",") if p], speed_change=args.speed_change,
                  tolerance=args.tolerance)
    out = Path(args.out) if args.out else Path(args.results) / "protocol" / f"{args.candidate}_vs_{args.baseline}"
    text = markdown(cmp)
    write_text_atomic(out / "protocol.md", text)
    write_text_atomic(out / "protocol.json", json.dumps(cmp, indent=1) + "\n")
    png = plot(cmp, out / "deltas.png")
    print(text)
    print(f"written: {out / 'protocol.md'}, {out / 'protocol.json'}" + (f", {png}" if png else ""))
    return 0
