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
    """pos_frames / neg_frames most recent frames; `first` keeps the first frame's positives (with its
    history: what analysis.history_scores pairs with) after they age out."""

    def __init__(self, pos_frames: int, neg_frames: int):
        self.pos: deque = deque(maxlen=pos_frames)
        self.neg: deque = deque(maxlen=neg_frames)
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
        return pos, list(self.neg)

    def __len__(self) -> int:
        return len(self.pos)
