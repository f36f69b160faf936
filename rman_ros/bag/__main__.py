"""python -m rman_ros.bag {record-sequence,record-video,play,score,bench} ..."""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def _params(pairs):
    out = {}
    for p in pairs or []:
        if ":=" not in p:
            raise SystemExit(f"--param expects name:=value, got {p!r}")
        k, v = p.split(":=", 1)
        out[k] = v
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rman_ros.bag", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("record-sequence", help="OTB-style sequence folder -> rosbag2 MCAP directory")
    r.add_argument("seq_dir")
    r.add_argument("out_bag")
    r.add_argument("--fps", type=float, default=30.0)
    r.add_argument("--max-frames", type=int, default=None)
    r.add_argument("--scale", type=float, default=1.0, help="resize frames and gt by this factor")
    r.add_argument("--encoding", choices=["rgb8", "bgr8"], default="rgb8")

    v = sub.add_parser("record-video", help="video file + frame-0 box -> bag (no ground truth)")
    v.add_argument("video")
    v.add_argument("out_bag")
    v.add_argument("--box", required=True, help="x,y,w,h of the target in frame 0")
    v.add_argument("--fps", type=float, default=30.0)

    for name, help_ in (("play", "publish a bag into a running node"),
                        ("score", "replay into a node and score its detections against the ground truth")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("bag")
        mode = p.add_mutually_exclusive_group()
        mode.add_argument("--lockstep", action="store_true", help="wait for each frame's detections")
        mode.add_argument("--rate", type=float, default=None, help="playback speed factor (timed)")
        p.add_argument("--image-topic", default="image")
        p.add_argument("--namespace", default="", help="the node's namespace (relative topics resolve in it)")
        p.add_argument("--init-topic", default="init")
        p.add_argument("--max-frames", type=int, default=None)
        p.add_argument("--no-restamp", action="store_true", help="keep the recorded stamps")
        if name == "score":
            p.add_argument("--out", default=None, help="write boxes.txt, scores.txt, summary.json here")
            p.add_argument("--no-start-node", action="store_true",
                           help="score a node that is already running instead of starting one")
            p.add_argument("--params-file", default=None)
            p.add_argument("--param", action="append", help="extra node parameter name:=value")

    b = sub.add_parser("bench", help="timed looped replay through a node subprocess: FPS, drops, latency, RSS")
    b.add_argument("bag")
    b.add_argument("--frames", type=int, default=3000)
    b.add_argument("--fps", type=float, default=30.0)
    b.add_argument("--out", default=None)
    b.add_argument("--params-file", default=None)
    b.add_argument("--param", action="append", help="extra node parameter name:=value")
    b.add_argument("--namespace", default="", help="start the node in this namespace")

    a = ap.parse_args(argv)
    from rman_ros.bag.launcher import stop_signals_as_keyboard_interrupt

    stop_signals_as_keyboard_interrupt()
    from rman_ros.bench.datasets import SequenceError

    try:
        return _run(a)
    except (FileExistsError, FileNotFoundError, ValueError, TimeoutError, SequenceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(a) -> int:
    if a.cmd == "record-sequence":
        from rman_ros.bag.record import record_sequence

        print(json.dumps(record_sequence(a.seq_dir, a.out_bag, a.fps, a.max_frames, a.scale, a.encoding)))
        return 0
    if a.cmd == "record-video":
        from rman_ros.bag.record import record_video

        box = [float(x) for x in a.box.split(",")]
        print(json.dumps(record_video(a.video, a.out_bag, box, a.fps)))
        return 0
    if a.cmd == "play":
        from rman_ros.bag.client import ReplayClient
        from rman_ros.bag.play import play
        from rman_ros.bag.reader import read_bag

        seq = read_bag(a.bag, max_frames=a.max_frames)
        with ReplayClient(a.image_topic, a.init_topic, namespace=a.namespace) as client:
            client.wait_for_node()
            res = play(seq, client, lockstep=a.lockstep,
                       rate=a.rate or 1.0, restamp=not a.no_restamp)
            print(json.dumps({"frames": len(res.stamps), "with_output": res.received_frames(client),
                              "wall_s": round(res.wall_s, 3)}))
        return 0
    if a.cmd == "score":
        from rman_ros.bag import launcher
        from rman_ros.bag.score import run_score

        lockstep = a.rate is None  # score defaults to lockstep (deterministic)
        s = run_score(a.bag, a.out, start_node=not a.no_start_node,
                      params_file=a.params_file or launcher.DEFAULT_PARAMS, params=_params(a.param),
                      lockstep=lockstep, rate=a.rate or 1.0, max_frames=a.max_frames,
                      image_topic=a.image_topic, init_topic=a.init_topic, namespace=a.namespace)
        s.pop("boxes")
        print(json.dumps(s, indent=2))
        return 0
    if a.cmd == "bench":
        from rman_ros.bag import launcher
        from rman_ros.bag.bench import run_bench

        res = run_bench(a.bag, a.frames, a.fps, a.out, a.params_file or launcher.DEFAULT_PARAMS,
                        _params(a.param), namespace=a.namespace)
        print(json.dumps(res, indent=2))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

