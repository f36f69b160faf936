"""Publish a recorded sequence into a running tracker node (lockstep or timed)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from rman_ros.bag.reader import BagSequence, to_ros_image


@dataclass
class PlayResult:
    stamps: List[int] = field(default_factory=list)  # published stamp of each frame (index = frame)
    sent_ns: List[int] = field(default_factory=list)  # wall clock at publish
    init_frame: Optional[int] = None
    init_indices: List[int] = field(default_factory=list)  # published frames that carried an init
    init_sent_ns: List[int] = field(default_factory=list)  # wall clock at publishing each init
    wall_s: float = 0.0

    def first_box_s(self, client) -> List[float]:
        """For each init sent: seconds from publishing it to receiving the first result with a box for its
        frame (the new track's first box); NaN when none came."""
        out = []
        for i, sent in zip(self.init_indices, self.init_sent_ns):
            got = [r.recv_ns for r in client.by_stamp.get(self.stamps[i], ())
                   if r.box is not None and r.recv_ns >= sent]
            out.append((min(got) - sent) * 1e-9 if got else float("nan"))
        return out

    def boxes(self, client) -> np.ndarray:
        """(N, 4) last published box per frame; NaN where empty / lost / not received."""
        out = np.full((len(self.stamps), 4), np.nan)
        for i, t in enumerate(self.stamps):
            got = client.by_stamp.get(t)
            if got and got[-1].box is not None:
                out[i] = got[-1].box
        return out

    def scores(self, client) -> np.ndarray:
        out = np.full(len(self.stamps), np.nan)
        for i, t in enumerate(self.stamps):
            got = client.by_stamp.get(t)
            if got:
                out[i] = got[-1].score if got[-1].box is not None else 0.0
        return out

    def latencies_s(self, client, include_init: bool = False) -> np.ndarray:
        """Receive time - stamp for each frame's first result (meaningful with restamping).
        Init frames are left out unless include_init (their result waits for the first-frame
        training, and the first one also for the transport to warm up)."""
        skip = set() if include_init else set(self.init_indices)
        lat = []
        for i, t in enumerate(self.stamps):
            got = client.by_stamp.get(t)
            if got and i not in skip:
                lat.append((got[0].recv_ns - t) * 1e-9)
        return np.asarray(lat)

    def received_frames(self, client) -> int:
        return sum(1 for t in self.stamps if client.by_stamp.get(t))


def _init_msg(box, stamp_ns: int, frame_id: str):
    from std_msgs.msg import Header

    from rman_ros.ros.conversions import make_init_detection, ns_to_stamp

    return make_init_detection(box, Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id))


def _init_index(seq: BagSequence) -> Optional[int]:
    if seq.init_box is None:
        return None
    for i, f in enumerate(seq.frames):
        if f.stamp_ns == seq.init_stamp_ns:
            return i
    return 0


def frame_order(i: int, n: int, pingpong: bool) -> int:
    """Index of the i-th published frame when looping over n frames (0..n-1, then again from 0,
    or with pingpong 0..n-1..1..n-1.., which keeps the motion continuous)."""
    if not pingpong or n < 2:
        return i % n
    j = i % (2 * (n - 1))
    return j if j < n else 2 * (n - 1) - j


def _publish_until_result(client, msg, stamp: int, timeout: float, resend: bool) -> None:
    """Publish `msg` and wait for its detections; with `resend`, publish again every 0.5 s."""
    deadline = time.monotonic() + timeout
    while True:
        client.image_pub.publish(msg)
        try:
            client.wait_results(stamp, 1, min(0.5, max(0.01, deadline - time.monotonic())) if resend
                                else timeout)
            return
        except TimeoutError:
            if not resend:
                raise
            if time.monotonic() > deadline:  # name the whole wait, not the last 0.5 s resend interval
                raise TimeoutError(f"no detections for stamp {stamp} within {timeout:.0f} s "
                                   "(the frame was re-sent every 0.5 s)") from None


def play(seq: BagSequence, client, lockstep: bool = True, rate: float = 1.0, fps: Optional[float] = None,
         restamp: bool = True, n_frames: Optional[int] = None, reinit_each_loop: bool = True,
         pingpong: bool = False, timeout: float = 120.0, progress=None) -> PlayResult:
    """Publish frames (looping when n_frames > len(seq)) and the init into the node.

    lockstep: publish a frame, wait for its detections (and for the init result on the init frame),
    then the next frame: every frame is processed, results are deterministic.
    timed: publish at `fps * rate` (fps defaults to the bag's frame spacing); frames the node
    cannot keep up with are dropped by the node (counted in its diagnostics).
    restamp: stamp each frame with the wall clock at publish time (so latency = now - stamp is
    meaningful and stamps stay monotonic over loops); otherwise the recorded stamps are kept.
    n_frames > len(seq) loops; reinit_each_loop re-sends the init whenever the init frame comes
    round again; pingpong plays forwards then backwards (no jump; the init is sent once).
    """
    n = len(seq) if n_frames is None else int(n_frames)
    if fps is None:
        fps = (1e9 / np.median(np.diff([f.stamp_ns for f in seq.frames]))) if len(seq) > 1 else 30.0
    period = 1.0 / (fps * rate)
    init_idx = _init_index(seq)
    res = PlayResult(init_frame=init_idx)
    start = time.monotonic()
    next_t = start
    for i in range(n):
        k = frame_order(i, len(seq), pingpong)
        frame = seq.frames[k]
        stamp = time.time_ns() if restamp else frame.stamp_ns
        if res.stamps and stamp <= res.stamps[-1] and restamp:
            stamp = res.stamps[-1] + 1
        msg = to_ros_image(frame, stamp)
        if not lockstep:
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_t += period
        res.sent_ns.append(time.time_ns())
        res.stamps.append(stamp)
        send_init = init_idx is not None and k == init_idx and (i == k or (reinit_each_loop and not pingpong))
        if lockstep or (send_init and i == k):
            # lockstep, and the first init in timed mode: make sure the frame arrived (a best-effort
            # subscriber may miss the first messages after discovery), then wait for the init result
            _publish_until_result(client, msg, stamp, timeout, resend=not lockstep)
        else:
            client.image_pub.publish(msg)
        if send_init:
            res.init_indices.append(i)
            res.init_sent_ns.append(time.time_ns())
            client.init_pub.publish(_init_msg(seq.init_box, stamp, frame.frame_id))
            if lockstep or i == k:
                client.wait_results(stamp, 2, timeout, need_box=True)
                next_t = time.monotonic()
        if progress is not None:
            progress(i, n)
    if not lockstep:  # let the last results arrive
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not client.by_stamp.get(res.stamps[-1]):
            time.sleep(0.05)
    res.wall_s = time.monotonic() - start
    return res
