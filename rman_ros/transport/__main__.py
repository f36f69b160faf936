"""python -m rman_ros.transport {bench,path,sub}: see rman_ros/transport/__init__.py."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # before rclpy is imported anywhere


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rman_ros.transport",
                                 description="The Fast DDS transport profile for large images, and its benchmark.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="frames received and latency of sensor_msgs/Image between two processes")
    b.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
    b.add_argument("--fps", type=float, default=30.0, help="publish rate in Hz (default 30)")
    b.add_argument("--frames", type=int, default=300, help="frames to publish (default 300)")
    b.add_argument("--qos", choices=("best_effort", "reliable"), default="best_effort")
    b.add_argument("--depth", type=int, default=1, help="KEEP_LAST depth of both ends (default 1, as the "
                                                        "tracker node's image subscription)")
    b.add_argument("--encoding", default="rgb8", help="rgb8 (default), bgr8, mono8, rgba8, bgra8")
    b.add_argument("--profile", default=None,
                   help="Fast DDS XML profile for both processes; '' = none (Fast DDS defaults). Default: "
                        "$FASTDDS_DEFAULT_PROFILES_FILE when set, else the package's shm_large_images.xml")
    b.add_argument("--sub-profile", default=None,
                   help="another profile for the subscriber process only ('' = none); default: --profile's")
    b.add_argument("--startup-timeout", type=float, default=60.0, help="s to start and match (default 60)")
    b.add_argument("--out", default=None, help="also write the JSON result to this file")
    s = sub.add_parser("sub", help="(internal) the benchmark's subscriber process")
    s.add_argument("--topic", required=True)
    s.add_argument("--qos", choices=("best_effort", "reliable"), required=True)
    s.add_argument("--depth", type=int, default=1)
    s.add_argument("--deadline", type=float, default=600.0, help="s after which it ends on its own")
    sub.add_parser("path", help="print the path of the profile the demo and the benchmarks use")
    a = ap.parse_args(argv)

    if a.cmd == "path":
        from rman_ros.transport import default_profile

        print(default_profile())
        return 0
    if a.cmd == "sub":
        from rman_ros.transport.bench import subscribe

        return subscribe(a.topic, a.qos, a.depth, a.deadline)
    from rman_ros.transport.bench import run_bench

    try:
        result = run_bench(size=a.size, fps=a.fps, frames=a.frames, qos=a.qos, profile=a.profile,
                           sub_profile=a.sub_profile, depth=a.depth,
                           encoding=a.encoding, startup_timeout=a.startup_timeout,
                           log=lambda text: print(text, file=sys.stderr, flush=True))
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n", encoding="utf-8")
    print(f"[transport] {result['frames_received']}/{result['frames_sent']} frames received, latency p50 "
          f"{result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
