"""Which frame an init box starts its track on (pure logic over the frame buffer, no ROS).

An init starts a track whenever a usable frame exists:
  1. its own frame: the buffered frame within `init_stamp_tolerance` of its stamp (a zero stamp: the latest);
  2. while that frame may still be on the way (the init is newer than every buffered frame), it waits for
     it, up to `wait_s`;
  3. else the nearest buffered frame within `init_nearest_tolerance` (warned: its frame was lost);
  4. else the next frame to arrive (warned).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXACT, NEAREST, WAIT, NEXT = "exact", "nearest", "wait", "next"


@dataclass
class Match:
    how: str  # EXACT, NEAREST, WAIT (decide again later) or NEXT (take the next frame to arrive)
    frame: Any = None  # the Frame for EXACT and NEAREST


def match_init(buffer, stamp_ns: int, tolerance_ns: int, nearest_ns: int, waited_out: bool) -> Match:
    """Decide for an init stamped `stamp_ns` against `buffer` (a FrameBuffer); `waited_out` once the init
    has waited its time for its own frame."""
    newest = buffer.latest()
    if newest is None:
        return Match(NEXT if waited_out else WAIT)
    if stamp_ns == 0:
        return Match(EXACT, newest)
    frame = buffer.find(stamp_ns, tolerance_ns)
    if frame is not None:
        return Match(EXACT, frame)
    if newest.stamp_ns < stamp_ns and not waited_out:  # its frame may still come
        return Match(WAIT)
    frame = buffer.find(stamp_ns, nearest_ns)
    return Match(NEAREST, frame) if frame is not None else Match(NEXT)


@dataclass
class WaitingInit:
    """An init that has no frame yet: it waits for its own frame until `deadline` (monotonic s), or,
    with `next_frame`, takes the next frame to arrive. `class_id`: the class of the detection it comes from
    ('' for a box from outside), `source`: where it comes from, for the log."""
    box: tuple
    stamp_ns: int
    deadline: float
    next_frame: bool = False
    class_id: str = ""
    source: str = "init"
