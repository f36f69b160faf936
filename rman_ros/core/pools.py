"""Bounded MDNet-style sample pools of cached features (the CNN is fixed, so features stay valid)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import List, Optional

import torch


@dataclass(frozen=True)
class FrameSamples:
    """Samples of one frame: the history that frame's candidates saw, and sample features."""
    frame: int
    hist: torch.Tensor   # (K, D) target features of frames T-K..T-1
    feats: torch.Tensor  # (M, D)


class SamplePools:
    """pos_frames / neg_frames most recent frames; with keep_first, the first frame's positives stay in
    the long-term pool after they would have aged out (an anchor against drift)."""

    def __init__(self, pos_frames: int, neg_frames: int, keep_first: bool = False):
        self.pos: deque = deque(maxlen=pos_frames)
        self.neg: deque = deque(maxlen=neg_frames)
        self.keep_first = keep_first
        self.first: Optional[FrameSamples] = None

    def add(self, frame: int, hist: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> None:
        if pos.shape[0]:
            rec = FrameSamples(frame, hist, pos)
            if self.first is None:
                self.first = rec
            self.pos.append(rec)
        if neg.shape[0]:
            self.neg.append(FrameSamples(frame, hist, neg))

    def snapshot(self, pos_last: int = 0):
        """Immutable lists for a training run; pos_last > 0 keeps only the most recent positive frames."""
        pos: List[FrameSamples] = list(self.pos)
        if pos_last > 0:
            pos = pos[-pos_last:]
        elif self.keep_first and self.first is not None and (not pos or pos[0] is not self.first):
            pos = [self.first] + pos
        return pos, list(self.neg)

    def __len__(self) -> int:
        return len(self.pos)
