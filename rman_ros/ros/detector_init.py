"""Starting tracks from a detector's boxes (no ROS here).

  * `init_class` set: while the tracker is idle, a track starts on the best-scoring detection of that class;
  * `reinit_from_detector`: a track lost for longer than `reinit_lost_s` (frame time) starts again on the
    best detection of `init_class`, or, with `init_class` empty, of the class the track started on;
  * a clicked point (`init_point`): the smallest box of the most recent detector array that contains it,
    else a `click_box_px` square around the point.

Each new track goes through TrackingLoop.request_init, so it starts on the frame the detection array's (or the
click's) stamp names, like any init.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Iterable, Optional

from rman_ros.ros.tracking_loop import LOST
from rman_ros.ros.validation import check_box

HISTORY = 30  # detector arrays kept for clicked points


@dataclass(frozen=True)
class Detection:
    """One detector box: (x, y, w, h) in pixels and its hypotheses ((class_id, score), ...)."""
    box: tuple
    hypotheses: tuple = ()

    def score_of(self, class_id: str) -> Optional[float]:
        """The best score this detection gives `class_id`, or None."""
        scores = [score for cls, score in self.hypotheses if cls == class_id]
        return max(scores) if scores else None

    def best(self) -> tuple:
        """(class_id, score) of its best hypothesis; ('', 1.0) for a box without any."""
        return max(self.hypotheses, key=lambda h: h[1]) if self.hypotheses else ("", 1.0)

    def contains(self, x: float, y: float) -> bool:
        bx, by, bw, bh = self.box
        return bx <= x <= bx + bw and by <= y <= by + bh


def best_of_class(detections: Iterable[Detection], class_id: str) -> Optional[tuple]:
    """(detection, score) of the best-scoring detection of `class_id`, or None."""
    scored = [(d, d.score_of(class_id)) for d in detections]
    scored = [(d, s) for d, s in scored if s is not None]
    return max(scored, key=lambda ds: ds[1]) if scored else None


def box_at(detections: Iterable[Detection], x: float, y: float) -> Optional[Detection]:
    """The smallest detection containing the point (the innermost object under a click), or None."""
    inside = [d for d in detections if d.contains(x, y)]
    return min(inside, key=lambda d: d.box[2] * d.box[3]) if inside else None


class DetectorInit:
    """Feeds a TrackingLoop new tracks from detector arrays and clicked points. Reads init_class,
    reinit_from_detector, reinit_lost_s, click_box_px and init_nearest_tolerance from the loop's options."""

    def __init__(self, loop, history: int = HISTORY):
        self.loop = loop
        self._recent: collections.deque = collections.deque(maxlen=history)  # (stamp_ns, [Detection])
        self._lock = threading.Lock()
        self.received = 0  # detector arrays handled (counted once each has been decided on)

    def on_detections(self, stamp_ns: int, detections: list) -> Optional[tuple]:
        """A detector array stamped `stamp_ns`. Starts a track when the tracker is idle (init_class) or has
        been lost long enough (reinit_from_detector). Returns the request made (request_init's arguments)."""
        detections = tuple(detections)
        with self._lock:
            self._recent.append((int(stamp_ns), detections))
        opts = self.loop.opts

        def choose(track, init_on_its_way: bool) -> Optional[tuple]:
            if init_on_its_way:
                return None
            if not track.tracking:
                class_id, why = opts["init_class"], "idle"
            elif (opts["reinit_from_detector"] and track.state == LOST
                  and track.lost_for_s() > opts["reinit_lost_s"]):
                class_id = opts["init_class"] or track.class_id
                why = f"track {track.track_id} lost for {track.lost_for_s():.1f} s"
            else:
                return None
            best = best_of_class(detections, class_id) if class_id else None
            if best is None:
                return None
            det, score = best
            return det.box, stamp_ns, class_id, f"detector: {class_id} {score:.2f}, {why}"

        request = self.loop.request_init_if(choose)
        with self._lock:
            self.received += 1
        return request

    def on_point(self, stamp_ns: int, x: float, y: float) -> tuple:
        """A clicked point (pixels) on the frame stamped `stamp_ns` (0: the latest): a new track on the
        smallest detector box containing it, from the most recent array within init_nearest_tolerance of the
        click, else on a click_box_px square around it. BoxError for a non-finite or absurd point. Returns
        the request made (request_init's arguments)."""
        side = float(self.loop.opts["click_box_px"])
        square = check_box(x, y, side, side)  # BoxError for a point that is no pixel
        tolerance_ns = int(self.loop.opts["init_nearest_tolerance"] * 1e9)
        with self._lock:
            arrays = list(self._recent)
        for array_ns, detections in reversed(arrays):
            if stamp_ns and abs(array_ns - stamp_ns) > tolerance_ns:
                continue
            det = box_at(detections, x, y)
            if det is not None:
                class_id, score = det.best()
                request = (det.box, array_ns, class_id, f"init_point on a detection: {class_id} {score:.2f}")
                break
        else:
            request = (square, stamp_ns, "", f"init_point: {side:g} px box")
        self.loop.request_init(*request)
        return request
