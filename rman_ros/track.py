"""Track one target offline: ``python -m rman_ros.track SOURCE [--box x,y,w,h] [--out boxes.txt] [--video out.mp4]``.

SOURCE may be

* an OTB-style sequence folder (``img/`` + ``groundtruth_rect.txt``; the tracker is
  initialised from gt line 1 unless ``--box`` is given),
* an image folder (frames sorted by the number in their names) plus ``--box``,
* a video file plus ``--box``.

Runs :class:`rman_ros.core.RMANTracker` synchronously (or an OpenCV peer with
``--tracker csrt`` etc.), prints progress, writes one ``x,y,w,h`` line per frame
(4 decimals, frame 1 = the init box) and optionally an annotated mp4.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from rman_ros.io import format_boxes, read_boxes, read_image, write_text_atomic

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def parse_box(text: str) -> Tuple[float, float, float, float]:
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if len(parts) != 4:
        raise ValueError(f"--box needs x,y,w,h (4 numbers), got {text!r}")
    box = tuple(float(p) for p in parts)
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"--box width and height must be positive, got {text!r}")
    return box


class Source:
    """Frames (RGB uint8) of a sequence folder, image folder or video, plus optional gt."""

    def __init__(self, path: Path):
        from rman_ros.bench import datasets as D

        self.path = Path(path)
        self.gt: Optional[np.ndarray] = None
        self.frames: Optional[List[Path]] = None
        self.fps = 30.0
        self.count: Optional[int] = None
        if self.path.is_file():
            if self.path.suffix.lower() not in VIDEO_EXTS:
                raise ValueError(f"{self.path}: not a video file (expected one of {', '.join(VIDEO_EXTS)})")
            import cv2

            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise ValueError(f"cannot open video {self.path}")
            fps = cap.get(cv2.CAP_PROP_FPS)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
            self.fps = fps if fps and fps > 0 else 30.0
            self.count = n if n > 0 else None
            return
        if not self.path.is_dir():
            raise FileNotFoundError(f"no such file or folder: {self.path}")
        gt_file = self.path / "groundtruth_rect.txt"
        if (self.path / "img").is_dir() and gt_file.is_file():
            try:
                seq = D.load_sequence(self.path)
                self.frames, self.gt = list(seq.frames), seq.gt
            except D.SequenceError as exc:
                print(f"warning: {exc}; tracking all images of img/ from gt line 1", file=sys.stderr)
                self.frames = [p for _, p in D.list_images(self.path / "img")]
                gt = read_boxes(gt_file)
                self.gt = gt[: len(self.frames)] if len(gt) >= 1 else None
        else:
            folder = self.path / "img" if (self.path / "img").is_dir() else self.path
            self.frames = [p for _, p in D.list_images(folder)]
            if not self.frames:
                raise ValueError(f"{self.path}: no images found")
        self.count = len(self.frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.frames is not None:
            for p in self.frames:
                yield read_image(p)
            return
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


def _draw(frame_rgb: np.ndarray, box, index: int, score: Optional[float], gt=None) -> np.ndarray:
    import cv2

    img = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    if gt is not None and np.all(np.isfinite(gt)):
        x, y, w, h = gt
        cv2.rectangle(img, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), (0, 0, 255), 1)
    x, y, w, h = box
    cv2.rectangle(img, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), (0, 255, 0), 2)
    text = f"#{index + 1}" + (f"  score {score:.2f}" if score is not None else "")
    cv2.putText(img, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2, cv2.LINE_AA)
    return img


def tracker_spec(args):
    """The benchmark's tracker spec for --tracker and --config (a file or a preset name)."""
    from rman_ros.bench.trackers import parse_tracker
    from rman_ros.core.config_files import load_overrides

    overrides = load_overrides(args.config)
    return parse_tracker(args.tracker, overrides if args.tracker.lower().startswith("rman") else None)


def run(args) -> int:
    from rman_ros.bench.progress import Progress
    from rman_ros.bench.trackers import make_tracker

    src = Source(args.source)
    if args.box:
        init = parse_box(args.box)
    elif src.gt is not None and len(src.gt):
        init = tuple(float(v) for v in src.gt[0])
    else:
        raise ValueError("no initial box: pass --box x,y,w,h (image folders and videos need it)")
    spec = tracker_spec(args)
    if args.threads:
        import torch

        torch.set_num_threads(int(args.threads))
    tracker = make_tracker(spec)
    writer = None
    boxes: List[Tuple[float, float, float, float]] = []
    times: List[float] = []
    prog = Progress(src.count or 0, f"track {spec.label}")
    try:
        for i, frame in enumerate(src):
            t0 = time.perf_counter()
            if i == 0:
                tracker.initialize(frame, init)
                box = init
            else:
                box = tuple(float(v) for v in tracker.track(frame))
            times.append(time.perf_counter() - t0)
            boxes.append(box)
            if args.video:
                import cv2

                if writer is None:
                    Path(args.video).parent.mkdir(parents=True, exist_ok=True)
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(args.video), cv2.VideoWriter_fourcc(*"mp4v"),
                                             float(args.fps or src.fps), (w, h))
                    if not writer.isOpened():
                        raise RuntimeError(f"cannot open video writer for {args.video}")
                last = getattr(tracker, "last", None)
                score = last.get("score") if isinstance(last, dict) and i > 0 else None
                gt = src.gt[i] if src.gt is not None and i < len(src.gt) else None
                writer.write(_draw(frame, box, i, score, gt))
            prog.update(i + 1, f"{1.0 / max(times[-1], 1e-9):.1f} FPS")
    finally:
        prog.close()
        if writer is not None:
            writer.release()
        close = getattr(tracker, "close", None)
        if callable(close):
            close()
    if not boxes:
        raise ValueError(f"{args.source}: no frames could be read")
    if args.out:
        write_text_atomic(args.out, format_boxes(boxes))
    total = sum(times)
    msg = f"{len(boxes)} frames, {len(boxes) / total:.2f} FPS" if total > 0 else f"{len(boxes)} frames"
    if len(times) > 1 and sum(times[1:]) > 0:
        msg += f" ({(len(times) - 1) / sum(times[1:]):.2f} FPS without init)"
    if src.gt is not None and len(src.gt) == len(boxes):
        from rman_ros.bench import metrics as M

        m = M.sequence_metrics(np.asarray(boxes), src.gt)
        msg += f"; vs gt: AUC {m['auc']:.3f}, DP20 {m['dp20']:.3f}, CLE {m['cle']:.2f} px"
    print(msg)
    if args.out:
        print(f"boxes written to {args.out}")
    if args.video:
        print(f"video written to {args.video}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rman_ros.track", description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="OTB-style sequence folder, image folder or video file")
    ap.add_argument("--box", help="initial box x,y,w,h (default: gt line 1 of an OTB folder)")
    ap.add_argument("--out", type=Path, help="write boxes here (x,y,w,h per line)")
    ap.add_argument("--video", type=Path, help="write an annotated mp4 here")
    ap.add_argument("--fps", type=float, help="frame rate of the output video (default: source or 30)")
    ap.add_argument("--config", help="RMANConfig overrides: a YAML file (flat or ROS params format) or a "
                    "preset name such as fast")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice; 1 is "
                    "much faster on a busy 2-core machine)")
    ap.add_argument("--tracker", default="rman", help="rman (default), rman:<variant> or an OpenCV peer (csrt, ...)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
