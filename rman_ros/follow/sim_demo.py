"""Closed-loop demo of the follower (`make demo-follow`): a simulated pan camera follows a moving target.

    python -m rman_ros.follow.sim_demo --out follow_demo_output [--duration 20] [--tracker]

A `follow_node` process turns the target's box into cmd_vel; its angular.z pans the simulated camera
(rman_ros.follow.sim). By default the boxes are the renderer's ground truth; with --tracker the images go
to a real `tracker_node` process (initialised once with the ground-truth box) and its detections drive
the follower. Near the end the target is hidden (empty arrays) and then the camera goes silent (no
messages), so the zero command on loss shows in the plot. Writes follow_demo.mp4, follow_demo.png,
summary.json and the nodes' logs into --out.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

HIDDEN_S = 2.0  # target hidden (empty detection arrays) for this long near the end
SILENT_S = 2.0  # then no messages at all for this long
DEMO_GAINS = {"k_yaw": 3.0, "max_yaw_rate": 2.0}  # a pan camera can turn faster than the defaults assume


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m rman_ros.follow.sim_demo",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="follow_demo_output", help="output directory")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of following before the target hides")
    ap.add_argument("--fps", type=float, default=30.0, help="camera frame rate")
    ap.add_argument("--tracker", action="store_true",
                    help="box the target with a real tracker_node instead of the renderer's ground truth")
    ap.add_argument("--device", default="cpu", help="tracker device with --tracker (auto, cpu, cuda, cuda:N)")
    ap.add_argument("--seed", type=int, default=0, help="texture seed")
    args = ap.parse_args(argv)
    if args.duration <= 0 or args.fps <= 0:
        ap.error("--duration and --fps must be positive")
    return args


def _specs(namespace: str, device: str) -> tuple:
    from rman_ros.bag.launcher import PACKAGE_ROOT
    from rman_ros.follow import launch_plan

    args = launch_plan.default_arguments(str(PACKAGE_ROOT))
    args.update(namespace=namespace, device=device)
    tracker, follower = launch_plan.node_specs(args)
    tracker["parameters"].append({"reliability": "reliable"})
    follower["parameters"].append(DEMO_GAINS)
    return tracker, follower


def _wait(pred, timeout: float, what: str, procs) -> None:
    """Poll `pred` until true; RuntimeError naming the log when a node exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not pred():
        for proc, log in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: a node exited with {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            logs = ", ".join(str(log) for _, log in procs)
            raise RuntimeError(f"{what}: nothing after {timeout:.0f} s; see {logs}")
        time.sleep(0.05)


def _init_tracker(loop, procs) -> None:
    """Send the first frame and its ground-truth box to the tracker; wait until it tracks."""
    from vision_msgs.msg import Detection2D

    from rman_ros.ros.conversions import make_init_detection

    init_pub = loop.node.create_publisher(Detection2D, "init", 10)
    _wait(lambda: init_pub.get_subscription_count() > 0, 120, "tracker init subscription", procs)
    rgb, box = loop.world.render(0.0)
    header = loop.header()
    loop.publish_frame(rgb, box, header)
    time.sleep(0.3)
    init_pub.publish(make_init_detection(box, header))
    _wait(lambda: loop.last_det_box is not None, 120, "tracker's first box", procs)


def annotate(rgb, rec, cam, mode: str, phase: str):
    """BGR frame with the box, the principal point's column and the command."""
    import cv2
    import numpy as np

    img = np.ascontiguousarray(rgb[:, :, ::-1])
    cx = int(round(cam.cx))
    cv2.line(img, (cx, 0), (cx, img.shape[0] - 1), (255, 255, 255), 1)
    if rec.box is not None:
        x, y, w, h = (int(round(v)) for v in rec.box)
        cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
    white = (255, 255, 255)
    cv2.putText(img, f"t={rec.t:5.2f}s {mode} {phase}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, white, 1)
    cv2.putText(img, f"bearing {math.degrees(rec.bearing):+6.1f} deg  wz {rec.angular_z:+.2f} rad/s",
                (4, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, white, 1)
    return img


def plot(records, phases, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rman_ros.io import save_figure_atomic

    t = [r.t for r in records]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5))
    ax1.plot(t, [math.degrees(r.bearing) for r in records], label="target bearing (true)")
    ax1.set_ylabel("bearing [deg]")
    ax2.plot(t, [r.angular_z for r in records], label="cmd_vel angular.z [rad/s]")
    ax2.plot(t, [r.linear_x for r in records], label="cmd_vel linear.x [m/s]")
    ax2.set_xlabel("time [s]")
    for ax in (ax1, ax2):
        for name, t0, t1, color in phases:
            ax.axvspan(t0, t1, color=color, alpha=0.15, label=name if ax is ax1 else None)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    ax1.set_title(title)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=110)


def run(args) -> dict:
    import cv2
    import rclpy

    from rman_ros.bag.launcher import stop_node
    from rman_ros.follow import launch_plan
    from rman_ros.follow.sim import PanCameraWorld
    from rman_ros.follow.sim_loop import PanCameraLoop

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    namespace = f"follow_demo_{random.randint(0, 1 << 20)}"
    tracker_spec, follower_spec = _specs(namespace, args.device)
    mode = "tracker boxes" if args.tracker else "ground-truth boxes"
    procs = [(launch_plan.start(follower_spec, out / "follow_node.log"), out / "follow_node.log")]
    if args.tracker:
        procs.append((launch_plan.start(tracker_spec, out / "tracker_node.log"), out / "tracker_node.log"))
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    world = PanCameraWorld(seed=args.seed)
    loop = PanCameraLoop(ctx, world, namespace=namespace, publish_images=args.tracker)
    video = out / "follow_demo.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), args.fps, (world.width, world.height))
    try:
        _wait(loop.connected, 120, "node start-up", procs)
        if args.tracker:
            _init_tracker(loop, procs)
        t_hide, t_silent = args.duration, args.duration + HIDDEN_S

        def on_frame(rgb, rec):
            phase = "following" if rec.t < t_hide else ("hidden" if rec.t < t_silent else "silent")
            writer.write(annotate(rgb, rec, world.cam, mode, phase))

        records = loop.run(args.duration + HIDDEN_S + SILENT_S, args.fps, visible=lambda t: t < t_hide,
                           publish=lambda t: t < t_silent, on_frame=on_frame)
    finally:
        writer.release()
        loop.close()
        rclpy.shutdown(context=ctx)
        codes = [stop_node(proc) for proc, _ in procs]
    png = out / "follow_demo.png"
    hidden = "target hidden" + ("" if args.tracker else " (empty arrays)")
    plot(records, [(hidden, t_hide, t_silent, "orange"),
                   ("camera silent (no messages)", t_silent, records[-1].t, "red")],
         png, f"rman_follower closed loop, {mode}")
    following = [r for r in records if r.t < t_hide]
    bearings = [abs(r.bearing) for r in following]
    summary = {
        "mode": mode, "frames": len(records), "fps": len(records) / max(1e-9, records[-1].t),
        "gains": DEMO_GAINS, "max_abs_bearing_deg": math.degrees(max(bearings)),
        "rms_bearing_deg": math.degrees(math.sqrt(sum(b * b for b in bearings) / len(bearings))),
        "open_loop_max_abs_bearing_deg": math.degrees(max(abs(world.path(r.t)[0]) for r in following)),
        "first_zero_after_hide_s": _first_zero(records, t_hide),
        "zero_while_silent": all(r.angular_z == 0.0 and r.linear_x == 0.0 for r in records if r.t >= t_silent),
        "node_exit_codes": codes, "video": str(video), "plot": str(png),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _first_zero(records, t0: float):
    """Seconds from t0 to the first frame whose last command was zero (None if never)."""
    for r in records:
        if r.t >= t0 and r.angular_z == 0.0 and r.linear_x == 0.0:
            return r.t - t0
    return None


def main(argv=None) -> int:
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
    args = parse_args(argv)
    from rman_ros.bag.launcher import stop_signals_as_keyboard_interrupt

    stop_signals_as_keyboard_interrupt()
    try:
        s = run(args)
    except RuntimeError as exc:
        print(f"demo-follow failed: {exc}", file=sys.stderr)
        return 1
    print(f"detections: {s['mode']}" + (" (the renderer's ground truth, no tracker in the loop; "
                                        "--tracker runs the real rman tracker)" if not args.tracker else ""))
    print(f"{s['frames']} frames at {s['fps']:.1f} fps; target bearing while followed: max "
          f"{s['max_abs_bearing_deg']:.1f} deg, rms {s['rms_bearing_deg']:.1f} deg (without following it "
          f"would reach {s['open_loop_max_abs_bearing_deg']:.1f} deg)")
    hide = s["first_zero_after_hide_s"]
    print("zero command " + (f"{hide:.2f} s after the target hid" if hide is not None
                             else "never after the target hid")
          + f"; zero all the time the camera was silent: {'yes' if s['zero_while_silent'] else 'NO'}")
    print(f"video:   {s['video']}\nplot:    {s['plot']}\nsummary: {Path(args.out) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
