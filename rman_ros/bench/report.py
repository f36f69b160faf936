"""Scores, tables and plots from a results folder written by the runner.

``build_report(results, dataset_root)`` writes ``results/report/``:

* ``scores.json`` - ``{tracker: {auc, dp20, os50, cle, fps, fps_no_init, npr, ..., per_sequence}}``
  (with ``*_std`` entries and ``runs`` when a tracker was run several times);
* ``report.md`` - overall table, per-attribute AUC table, per-sequence AUC/DP20 table;
* ``success.png`` / ``precision.png`` - OPE plots with the score in the legend;
* ``attr_<ATTR>.png`` - success and precision plots per OTB attribute;
* ``speed.png`` - AUC versus FPS and FPS per tracker;
* ``stages.png`` - milliseconds per tracked frame by stage, for trackers with ``*_stages.csv`` files
  (the table "Time per tracked frame" in ``report.md``, ``stages`` in ``scores.json``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from rman_ros.bench import datasets as D
from rman_ros.bench import metrics as M
from rman_ros.bench.stages import read_stages, summarise
from rman_ros.io import read_boxes, save_figure_atomic, write_text_atomic

_SCALARS = ("auc", "dp20", "os50", "cle", "npr", "npr_auc", "fps", "fps_no_init")


def read_run(run_dir: Path, seq: D.Sequence):
    """(boxes, per-frame seconds or None) of one sequence in one run folder; None when it has no result.
    ValueError when the result does not cover the sequence's frames."""
    res = Path(run_dir) / f"{seq.name}.txt"
    if not res.is_file():
        return None
    boxes = read_boxes(res)
    if len(boxes) != len(seq.gt):
        raise ValueError(f"{res}: {len(boxes)} boxes for {len(seq.gt)} gt frames")
    tfile = Path(run_dir) / f"{seq.name}_time.txt"
    return boxes, (np.loadtxt(tfile, ndmin=1) if tfile.is_file() else None)


def numbered_run_dirs(tracker_dir: Path) -> Dict[int, Path]:
    """Run number -> folder: run 1 is the tracker folder itself, run k >= 2 its repeat<k>/ (seed k - 1)."""
    dirs = {1: Path(tracker_dir)}
    for p in Path(tracker_dir).iterdir():
        if p.is_dir() and re.fullmatch(r"repeat\d+", p.name):
            dirs[int(p.name[6:])] = p
    return dict(sorted(dirs.items()))


def _run_dirs(tracker_dir: Path) -> List[Path]:
    return list(numbered_run_dirs(tracker_dir).values())


def find_trackers(results: Path) -> List[str]:
    out = []
    for p in sorted(Path(results).iterdir()):
        if p.is_dir() and p.name != "report" and not p.name.startswith("."):
            if any(f.suffix == ".txt" and not f.name.endswith("_time.txt") for f in p.iterdir()):
                out.append(p.name)
    return out


def evaluate_tracker(tracker_dir: Path, sequences: Dict[str, D.Sequence]) -> Dict[str, object]:
    """Scores of one tracker folder over the given (loaded) sequences that it has results for."""
    runs = []
    for rd in _run_dirs(tracker_dir):
        per_seq = {}
        for name, seq in sequences.items():
            run = read_run(rd, seq)
            if run is None:
                continue
            boxes, times = run
            per_seq[name] = M.sequence_metrics(boxes, seq.gt, times)
        if per_seq:
            runs.append(per_seq)
    if not runs:
        return {}
    common = sorted(set.intersection(*(set(r) for r in runs)))
    run_scores = [M.dataset_scores({s: r[s] for s in common}) for r in runs]
    out: Dict[str, object] = {}
    for k in _SCALARS:
        vals = np.array([rs.get(k, np.nan) for rs in run_scores], dtype=np.float64)
        out[k] = float(np.mean(vals))
        if len(runs) > 1:
            out[k + "_std"] = float(np.std(vals, ddof=1))
    out["runs"] = len(runs)
    out["sequences"] = len(common)
    out["success_curve"] = np.mean([rs["success_curve"] for rs in run_scores], axis=0).tolist()
    out["precision_curve"] = np.mean([rs["precision_curve"] for rs in run_scores], axis=0).tolist()
    per_sequence = {}
    for s in common:
        entry = {}
        for k in _SCALARS:
            vals = [r[s][k] for r in runs if k in r[s]]
            if vals:
                entry[k] = float(np.mean(vals))
                if len(vals) > 1:
                    entry[k + "_std"] = float(np.std(vals, ddof=1))
        entry["frames"] = runs[0][s]["frames"]
        entry["success_curve"] = np.mean([r[s]["success_curve"] for r in runs], axis=0).tolist()
        entry["precision_curve"] = np.mean([r[s]["precision_curve"] for r in runs], axis=0).tolist()
        per_sequence[s] = entry
    out["per_sequence"] = per_sequence
    stage_files = []
    for rd in _run_dirs(tracker_dir):
        for s in common:
            path = rd / f"{s}_stages.csv"
            if path.is_file():
                try:
                    stage_files.append(read_stages(path))
                except ValueError as exc:  # a damaged timing file costs its timings, not the report
                    print(f"report: ignoring {path}: {exc}")
    stages = summarise(stage_files)
    if stages is not None:
        out["stages"] = stages
    return out


def subset_scores(entry: Dict[str, object], names: List[str]) -> Optional[Dict[str, object]]:
    """Dataset scores of a tracker restricted to ``names`` (None if it has none of them)."""
    per = {n: entry["per_sequence"][n] for n in names if n in entry["per_sequence"]}
    if not per:
        return None
    return {
        "auc": float(np.mean([p["auc"] for p in per.values()])),
        "dp20": float(np.mean([p["dp20"] for p in per.values()])),
        "success_curve": np.mean([p["success_curve"] for p in per.values()], axis=0).tolist(),
        "precision_curve": np.mean([p["precision_curve"] for p in per.values()], axis=0).tolist(),
        "sequences": len(per),
    }


# --------------------------------------------------------------------------- plots
_STYLES = ["-", "--", "-.", ":"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _curve_axes(ax, entries: Dict[str, Dict[str, object]], kind: str, title: str, outside: bool = False) -> None:
    if kind == "success":
        x = M.SUCCESS_THRESHOLDS
        key, score = "success_curve", "auc"
        ax.set_xlabel("Overlap threshold")
        ax.set_ylabel("Success rate")
    else:
        x = M.PRECISION_THRESHOLDS
        key, score = "precision_curve", "dp20"
        ax.set_xlabel("Location error threshold (px)")
        ax.set_ylabel("Precision")
    order = sorted(entries, key=lambda n: -entries[n][score])
    cmap = _plt().get_cmap("tab10")
    for i, name in enumerate(order):
        e = entries[name]
        ax.plot(x, e[key], color=cmap(i % 10), linestyle=_STYLES[(i // 10) % len(_STYLES)],
                linewidth=2.0 if i < 3 else 1.3, label=f"{name} [{e[score]:.3f}]")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=10)
    if outside:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    else:
        ax.legend(loc="lower left" if kind == "success" else "lower right", fontsize=6, framealpha=0.8)


def plot_curves(entries: Dict[str, Dict[str, object]], path: Path, kind: str, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.6, 4.2), dpi=90)
    _curve_axes(ax, entries, kind, title, outside=True)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def plot_pair(entries: Dict[str, Dict[str, object]], path: Path, title: str) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=80)
    _curve_axes(axes[0], entries, "success", f"Success plots of OPE - {title}")
    _curve_axes(axes[1], entries, "precision", f"Precision plots of OPE - {title}")
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def plot_speed(scores: Dict[str, Dict[str, object]], path: Path) -> Optional[Path]:
    timed = {n: s for n, s in scores.items() if np.isfinite(s.get("fps", np.nan))}
    if not timed:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0), dpi=80)
    ax = axes[0]
    for n, s in timed.items():
        ax.scatter(s["fps"], s["auc"], s=30)
        ax.annotate(n, (s["fps"], s["auc"]), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("FPS (log scale, all frames)")
    ax.set_ylabel("AUC")
    ax.grid(True, alpha=0.3, which="both")
    ax.set_title("Accuracy vs speed", fontsize=10)
    ax = axes[1]
    names = sorted(timed, key=lambda n: timed[n]["fps"])
    y = np.arange(len(names))
    ax.barh(y - 0.2, [timed[n]["fps"] for n in names], height=0.4, label="all frames")
    ax.barh(y + 0.2, [timed[n]["fps_no_init"] for n in names], height=0.4, label="without init frame")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("FPS (log scale)")
    ax.legend(fontsize=7)
    ax.set_title("Speed", fontsize=10)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def _stage_union(summaries) -> List[str]:
    """The stages of several trackers' summaries, in first-seen order."""
    return list(dict.fromkeys(k for st in summaries for k in st["stages"]))


def plot_stages(scores: Dict[str, Dict[str, object]], path: Path) -> Optional[Path]:
    """Stacked bars: mean milliseconds per tracked frame in each stage, one bar per tracker."""
    staged = {n: s["stages"] for n, s in scores.items() if s.get("stages")}
    if not staged:
        return None
    plt = _plt()
    names = sorted(staged, key=lambda n: staged[n]["total_ms"])
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.45 * len(names)), dpi=80)
    left = np.zeros(len(names))
    y = np.arange(len(names))
    for k in _stage_union(staged.values()) + ["other"]:
        vals = np.array([staged[n].get(f"{k}_ms", 0.0) for n in names])
        ax.barh(y, vals, left=left, height=0.6, label=k)
        left += vals
    for i, n in enumerate(names):
        ax.annotate(f"{staged[n]['total_ms']:.1f} ms (p95 {staged[n]['p95_ms']:.0f})", (left[i], i),
                    xytext=(4, -3), textcoords="offset points", fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("milliseconds per tracked frame (mean)")
    ax.set_xlim(0, left.max() * 1.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title("Where the time goes", fontsize=10)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


# --------------------------------------------------------------------------- tables
def _fmt(entry, key, digits=3):
    v = entry.get(key, float("nan"))
    if v is None or not np.isfinite(v):
        return "-"
    text = f"{v:.{digits}f}"
    sd = entry.get(key + "_std")
    if sd is not None and np.isfinite(sd):
        text += f" ± {sd:.{digits}f}"
    return text


def markdown(scores: Dict[str, Dict[str, object]], attr_table: Dict[str, Dict[str, object]],
             n_sequences: int, title: str) -> str:
    order = sorted(scores, key=lambda n: -scores[n]["auc"])
    lines = [f"# {title}", "",
             f"One-pass evaluation on {n_sequences} sequences. AUC = area under the success plot "
             "(21 IoU thresholds, IoU > t), DP20 = precision at 20 px, OS0.5 = success at IoU > 0.5, "
             "CLE = mean centre location error (px); dataset score = mean over sequences. "
             "FPS = total frames / total tracking time (image loading excluded).", "",
             "| Tracker | AUC | DP20 | OS0.5 | CLE (px) | FPS | FPS w/o init | sequences | runs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in order:
        s = scores[n]
        lines.append(f"| {n} | {_fmt(s, 'auc')} | {_fmt(s, 'dp20')} | {_fmt(s, 'os50')} | "
                     f"{_fmt(s, 'cle', 2)} | {_fmt(s, 'fps', 1)} | {_fmt(s, 'fps_no_init', 1)} | "
                     f"{s['sequences']} | {s['runs']} |")
    staged = [n for n in order if scores[n].get("stages")]
    if staged:
        names = _stage_union(scores[n]["stages"] for n in staged)
        lines += ["", "## Time per tracked frame", "",
                  "Mean milliseconds per tracked frame in each stage (frame-weighted over all sequences and "
                  "runs), the frame latency percentiles, the initialisation, and the updates: how many per "
                  "100 tracked frames and the mean update stage of the frames whose update counter rose.", "",
                  "| Tracker | " + " | ".join(names) + " | other | total | p50 | p95 | max | init | "
                  "updates / 100 frames | ms per update frame |",
                  "|---|" + "---|" * (len(names) + 8)]
        for n in staged:
            st = scores[n]["stages"]
            keys = names + ["other", "total", "p50", "p95", "max", "init"]
            cells = [_fmt(st, f"{k}_ms", 1) for k in keys]
            cells += [_fmt(st, "updates_per_100", 1), _fmt(st, "update_frame_ms", 1)]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    if attr_table:
        lines += ["", "## AUC per attribute", "",
                  "| Attribute (sequences) | " + " | ".join(order) + " |",
                  "|---|" + "---|" * len(order)]
        for attr, info in attr_table.items():
            cells = []
            for n in order:
                sc = info["scores"].get(n)
                cells.append("-" if sc is None else f"{sc['auc']:.3f}")
            lines.append(f"| {attr} ({info['n']}) | " + " | ".join(cells) + " |")
    seqs = sorted({q for s in scores.values() for q in s["per_sequence"]}, key=str.lower)
    lines += ["", "## Per sequence (AUC / DP20)", "",
              "| Sequence | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
    for q in seqs:
        cells = []
        for n in order:
            p = scores[n]["per_sequence"].get(q)
            cells.append("-" if p is None else f"{p['auc']:.3f} / {p['dp20']:.3f}")
        lines.append(f"| {q} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _json_safe(obj):
    """NaN / inf -> None so that scores.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _strip_curves(scores):
    out = {}
    for n, s in scores.items():
        e = {k: v for k, v in s.items() if k not in ("per_sequence",)}
        e["per_sequence"] = {q: {k: v for k, v in p.items() if not k.endswith("_curve")}
                             for q, p in s["per_sequence"].items()}
        out[n] = e
    return out


def build_report(results: Path, dataset_root: Path, trackers: Optional[List[str]] = None,
                 sequences: Optional[List[str]] = None, title: str = "Benchmark report",
                 out_dir: Optional[Path] = None) -> Dict[str, Dict[str, object]]:
    results = Path(results)
    out_dir = Path(out_dir) if out_dir else results / "report"
    specs = D.select(D.discover(dataset_root), sequences)
    loaded: Dict[str, D.Sequence] = {}
    for s in specs:
        try:
            loaded[s.name] = D.load_sequence(s)
        except D.SequenceError as exc:
            print(f"report: skipping sequence {s.name}: {exc}")
    names = trackers or find_trackers(results)
    scores: Dict[str, Dict[str, object]] = {}
    for n in names:
        d = results / n
        if not d.is_dir():
            raise FileNotFoundError(f"no results folder for tracker {n}: {d}")
        entry = evaluate_tracker(d, loaded)
        if entry:
            scores[n] = entry
        else:
            print(f"report: no results of {n} for the selected sequences")
    if not scores:
        raise RuntimeError(f"no results found under {results} for the sequences of {dataset_root}")
    out_dir.mkdir(parents=True, exist_ok=True)
    nseq = max(s["sequences"] for s in scores.values())
    plot_curves(scores, out_dir / "success.png", "success", f"Success plots of OPE ({nseq} sequences)")
    plot_curves(scores, out_dir / "precision.png", "precision", f"Precision plots of OPE ({nseq} sequences)")
    attr_table: Dict[str, Dict[str, object]] = {}
    for attr in D.ATTRIBUTES:
        members = [q for q, seq in loaded.items() if attr in seq.attributes]
        if not members:
            continue
        sub = {n: subset_scores(s, members) for n, s in scores.items()}
        sub = {n: v for n, v in sub.items() if v is not None}
        attr_table[attr] = {"n": len(members), "sequences": members, "scores": sub}
        plot_pair(sub, out_dir / f"attr_{attr}.png", f"{attr} ({len(members)})")
    plot_speed(scores, out_dir / "speed.png")
    plot_stages(scores, out_dir / "stages.png")
    stripped = _strip_curves(scores)
    for attr, info in attr_table.items():
        for n, v in info["scores"].items():
            stripped[n].setdefault("attributes", {})[attr] = {"auc": v["auc"], "dp20": v["dp20"],
                                                               "sequences": v["sequences"]}
    write_text_atomic(out_dir / "scores.json", json.dumps(_json_safe(stripped), indent=1, allow_nan=False) + "\n")
    write_text_atomic(out_dir / "report.md", markdown(scores, attr_table, nseq, title))
    return stripped
