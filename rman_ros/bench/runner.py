"""One-pass-evaluation runner: trackers x sequences (x repeats), resumable, parallel.

Results of run ``k`` of tracker ``T`` on sequence ``S``:

* ``OUT/T/S.txt`` (k = 1) or ``OUT/T/repeat<k>/S.txt`` (k >= 2): one ``x,y,w,h`` per frame;
* ``..._time.txt`` next to it: seconds per frame (frame 1 = initialisation);
* ``..._stages.csv`` next to it, for trackers that report stage timings (RMAN): seconds per stage and
  frame (see :mod:`rman_ros.bench.stages`);
* ``S.error`` instead when the sequence failed (message + traceback).

Existing result files are skipped (resume); every file is written atomically.
Sequences run in worker processes (``spawn``) when ``workers > 1``; each worker
uses one torch / OpenCV thread then (``threads``, default 1, applies with one worker). Seeds are fixed per run (``seed + k - 1``).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from rman_ros.bench import datasets as D
from rman_ros.bench.progress import Progress
from rman_ros.bench.stages import format_stages
from rman_ros.bench.trackers import (TrackerSpec, find_published_dir, make_tracker, published_file)
from rman_ros.io import format_boxes, read_boxes, read_image, write_text_atomic


@dataclass
class Task:
    tracker: TrackerSpec
    seq: D.SequenceSpec
    out_dir: Path
    repeat: int = 1
    seed: int = 0
    published_root: Optional[Path] = None
    dataset_root: Optional[Path] = None
    frame_progress: bool = False
    threads: int = 1


def result_dir(out: Path, label: str, repeat: int = 1) -> Path:
    base = Path(out) / label
    return base if repeat <= 1 else base / f"repeat{repeat}"


def result_paths(out: Path, label: str, seq_name: str, repeat: int = 1):
    d = result_dir(out, label, repeat)
    return d / f"{seq_name}.txt", d / f"{seq_name}_time.txt", d / f"{seq_name}.error"


def stages_path(out: Path, label: str, seq_name: str, repeat: int = 1) -> Path:
    return result_dir(out, label, repeat) / f"{seq_name}_stages.csv"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    try:
        import cv2

        cv2.setRNGSeed(int(seed))
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(int(seed))


def _worker_init(single_thread: bool) -> None:
    if single_thread:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"
        os.environ["RMAN_BENCH_SINGLE_THREAD"] = "1"
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:
            pass


def _set_threads(threads: int, torch_too: bool) -> None:
    """Intra-op threads for OpenCV (and torch for rman). One thread per worker is the default:
    on a shared 2-core machine, 2 torch threads per process ran RMAN about 6x slower than 1."""
    n = 1 if os.environ.get("RMAN_BENCH_SINGLE_THREAD") == "1" else max(1, int(threads))
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass
    if torch_too:
        import torch

        torch.set_num_threads(n)


def _run_published(task: Task, seq: D.Sequence) -> Dict[str, object]:
    folder = find_published_dir(task.tracker.name, task.published_root, task.dataset_root)
    src = published_file(folder, seq.name)
    boxes = read_boxes(src)
    if len(boxes) != len(seq.gt):
        raise D.SequenceError(f"{src}: {len(boxes)} boxes but the sequence has {len(seq.gt)} frames")
    res, _, _ = result_paths(task.out_dir, task.tracker.label, seq.name, task.repeat)
    write_text_atomic(res, format_boxes(boxes))
    return {"frames": len(boxes), "seconds": None}


def _run_tracking(task: Task, seq: D.Sequence) -> Dict[str, object]:
    seed_everything(task.seed)
    _set_threads(task.threads, torch_too=task.tracker.kind == "rman")
    tracker = make_tracker(task.tracker, task.seed)
    n = len(seq.frames)
    boxes = np.zeros((n, 4))
    times = np.zeros(n)
    stage_times = getattr(tracker, "stage_times", None)  # per-stage seconds of the last call, if reported
    stages = []
    prog = Progress(n, f"{task.tracker.label} {seq.name}") if task.frame_progress else None
    try:
        for i, frame in enumerate(seq.frames):
            image = read_image(frame)
            t0 = time.perf_counter()
            if i == 0:
                tracker.initialize(image, tuple(seq.gt[0]))
                box = seq.gt[0]
            else:
                box = tracker.track(image)
            times[i] = time.perf_counter() - t0
            boxes[i] = np.asarray(box, dtype=np.float64).reshape(4)
            if stage_times is not None:
                stages.append(stage_times())
            if prog is not None:
                prog.update(i + 1)
    finally:
        close = getattr(tracker, "close", None)
        if callable(close):
            close()
        if prog is not None:
            prog.close()
    res, tim, _ = result_paths(task.out_dir, task.tracker.label, seq.name, task.repeat)
    write_text_atomic(tim, "".join(f"{t:.6f}\n" for t in times))
    if stages:
        write_text_atomic(stages_path(task.out_dir, task.tracker.label, seq.name, task.repeat),
                          format_stages(stages))
    write_text_atomic(res, format_boxes(boxes))  # results last: their presence marks "done"
    return {"frames": n, "seconds": float(times.sum())}


def run_task(task: Task) -> Dict[str, object]:
    """Run one (tracker, sequence, repeat); never raises: failures come back as status."""
    res, tim, err = result_paths(task.out_dir, task.tracker.label, task.seq.name, task.repeat)
    info = {"tracker": task.tracker.label, "sequence": task.seq.name, "repeat": task.repeat}
    if res.is_file() and (task.tracker.kind == "published" or tim.is_file()):
        return dict(info, status="skipped")
    t0 = time.perf_counter()
    try:
        seq = D.load_sequence(task.seq)
        if task.tracker.kind == "published":
            out = _run_published(task, seq)
        else:
            out = _run_tracking(task, seq)
    except Exception as exc:  # reported in the summary and the .error file
        msg = f"{type(exc).__name__}: {exc}"
        write_text_atomic(err, msg + "\n\n" + traceback.format_exc())
        return dict(info, status="failed", error=msg, wall_s=time.perf_counter() - t0)
    if err.exists():
        err.unlink()
    return dict(info, status="done", wall_s=time.perf_counter() - t0, **out)


def build_tasks(trackers: List[TrackerSpec], seqs: List[D.SequenceSpec], out: Path, repeat: int = 1,
                seed: int = 0, published_root: Optional[Path] = None,
                dataset_root: Optional[Path] = None, threads: int = 1) -> List[Task]:
    tasks = []
    for tr in trackers:
        reps = 1 if tr.kind == "published" else max(1, int(repeat))
        for k in range(1, reps + 1):
            for s in seqs:
                tasks.append(Task(tr, s, Path(out), k, seed + k - 1, published_root, dataset_root,
                                  threads=threads))
    return tasks


def run(tasks: List[Task], workers: int = 1, log=sys.stderr) -> List[Dict[str, object]]:
    """Run tasks (in-process for 1 worker, else a spawn pool); returns per-task results."""
    results: List[Dict[str, object]] = []
    prog = Progress(len(tasks), "sequences", stream=log)

    def _report(r):
        results.append(r)
        extra = f"{r['tracker']} {r['sequence']}: {r['status']}"
        if r["status"] == "done" and r.get("seconds"):
            extra += f" ({r['frames'] / r['seconds']:.1f} FPS)"
        if r["status"] == "failed":
            extra += f" - {r['error']}"
        prog.update(len(results), extra, force_line=r["status"] == "failed")

    if workers <= 1:
        for t in tasks:
            t.frame_progress = log.isatty() if hasattr(log, "isatty") else False
            _report(run_task(t))
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(int(workers), initializer=_worker_init, initargs=(True,)) as pool:
            for r in pool.imap_unordered(run_task, tasks):
                _report(r)
    prog.close()
    return results


def summarize(results: List[Dict[str, object]], out: Path) -> str:
    """Write OUT/run_summary.json and return a printable summary."""
    done = [r for r in results if r["status"] == "done"]
    skipped = [r for r in results if r["status"] == "skipped"]
    failed = [r for r in results if r["status"] == "failed"]
    from rman_ros.core.runtime import cpu_description

    cpu = cpu_description()
    write_text_atomic(Path(out) / "run_summary.json",
                      json.dumps({"cpu": cpu, "runs": results}, indent=1, default=str) + "\n")
    lines = [f"run summary: {len(done)} done, {len(skipped)} skipped (existing results), {len(failed)} failed "
             f"on {cpu}"]
    for r in failed:
        lines.append(f"  FAILED {r['tracker']} / {r['sequence']} (run {r['repeat']}): {r['error']}")
    return "\n".join(lines)
