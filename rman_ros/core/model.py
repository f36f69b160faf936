"""The trainable RMAN head: memory generator + MAL + classifier (1024 -> 512 -> 2)."""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .memory import MemoryGenerator, aggregate


class RMANHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 512, fc_hidden: int = 512, use_lstm: bool = True,
                 aggregation: str = "mal"):
        super().__init__()
        self.aggregation = aggregation
        self.generator = MemoryGenerator(in_dim, hidden, use_lstm)
        cls_in = hidden if aggregation == "none" else 2 * hidden
        self.fc1 = nn.Linear(cls_in, fc_hidden)
        self.fc2 = nn.Linear(fc_hidden, 2)

    def classify(self, h_star: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(h_star)))

    def _finish(self, h_hist: torch.Tensor, h_t: torch.Tensor) -> Dict[str, torch.Tensor]:
        h_star, theta, a_t = aggregate(h_t, h_hist, self.aggregation)
        return {"logits": self.classify(h_star), "h_t": h_t, "h_hist": h_hist, "h_star": h_star,
                "theta": theta, "a_t": a_t}

    def forward(self, hist: torch.Tensor, hist_idx: torch.Tensor, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Prefix-shared forward.

        hist (U, K, D): the distinct histories (ordered T-K..T-1); hist_idx (B,) which history each of the
        B candidates x (B, D) belongs to. The K history steps run once per distinct history.
        """
        states, (h, c) = self.generator.history(hist)
        h_t = self.generator.last_step(x, (h[hist_idx], c[hist_idx]))
        return self._finish(states[hist_idx], h_t)

    def forward_naive(self, seq: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reference forward over full sequences seq (B, K+1, D) (every sample unrolled on its own)."""
        states, h_t = self.generator.naive(seq)
        return self._finish(states, h_t)

    def score(self, hist: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Positive probability of candidates x (B, D) sharing one history hist (K, D)."""
        idx = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        return torch.softmax(self.forward(hist[None], idx, x)["logits"], 1)[:, 1]
