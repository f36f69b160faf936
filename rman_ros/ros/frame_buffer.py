"""Stamped ring buffer of recent frames, used to match an init box to the frame it was drawn on."""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Frame:
    """One received image: stamp in ns, its header (handed back with the result), the raw image (a message
    or an array, decoded lazily by the tracking loop), arrival number, and its (height, width) where known
    before decoding (None for a compressed image)."""

    stamp_ns: int
    header: Any
    msg: Any
    seq: int
    shape: Optional[tuple] = None


class FrameBuffer:
    """Thread-safe bounded buffer of the most recent frames, ordered by arrival.

    `push` returns False when the stamp went backwards (e.g. a looping bag); the buffer is then
    cleared first so that stale frames can never be matched to a new init.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"buffer size must be >= 1, got {size}")
        self._frames: collections.deque = collections.deque(maxlen=int(size))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def push(self, frame: Frame) -> bool:
        with self._lock:
            monotonic = not self._frames or frame.stamp_ns >= self._frames[-1].stamp_ns
            if not monotonic:
                self._frames.clear()
            self._frames.append(frame)
            return monotonic

    def latest(self) -> Optional[Frame]:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def find(self, stamp_ns: int, tolerance_ns: int) -> Optional[Frame]:
        """Frame whose stamp is nearest to `stamp_ns`, if within `tolerance_ns`; else None."""
        with self._lock:
            best = None
            for fr in self._frames:
                d = abs(fr.stamp_ns - stamp_ns)
                if d <= tolerance_ns and (best is None or d < abs(best.stamp_ns - stamp_ns)):
                    best = fr
            return best

    def span_ns(self) -> tuple:
        """(oldest, newest) stamps in the buffer, or (None, None)."""
        with self._lock:
            if not self._frames:
                return (None, None)
            return (self._frames[0].stamp_ns, self._frames[-1].stamp_ns)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
