"""Memory generator (LSTM over K+1 branches) and memory activation layer (MAL, Eq. 1-2).

Sequence order is T-K, ..., T-1 (the K tracked target patches) then T (the candidate).
Exact prefix sharing: the LSTM is causal and all candidates of a frame share the K history steps,
so `history()` runs the K steps once per distinct history and `last_step()` runs one step per sample.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class MemoryGenerator(nn.Module):
    """LSTM branch shared by the K+1 inputs; with use_lstm=False a per-branch FC+ReLU (no recurrence)."""

    def __init__(self, in_dim: int, hidden: int, use_lstm: bool = True):
        super().__init__()
        self.use_lstm = use_lstm
        self.hidden = hidden
        if use_lstm:
            self.cell = nn.LSTMCell(in_dim, hidden)
        else:
            self.fc = nn.Linear(in_dim, hidden)

    def _zeros(self, b: int, ref: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        z = ref.new_zeros((b, self.hidden))
        return z, z

    def history(self, hist: torch.Tensor):
        """hist (U, K, D) ordered T-K..T-1 -> memory states (U, K, H) and the LSTM state (h, c) after T-1."""
        u, k, _ = hist.shape
        if not self.use_lstm:
            return F.relu(self.fc(hist)), self._zeros(u, hist)
        h, c = self._zeros(u, hist)
        states = []
        for t in range(k):
            h, c = self.cell(hist[:, t], (h, c))
            states.append(h)
        return torch.stack(states, 1), (h, c)

    def last_step(self, x: torch.Tensor, state: Tuple[torch.Tensor, torch.Tensor],
                  idx: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One LSTM step for x (B, D) from state ((U, H), (U, H)); sample b uses state row idx[b].

        The recurrent term W_hh h + b is computed once per distinct history (U rows) and gathered,
        so each candidate only costs its input projection (same maths as nn.LSTMCell)."""
        if not self.use_lstm:
            return F.relu(self.fc(x))
        h, c = state
        if idx is None:
            idx = torch.arange(x.shape[0], device=x.device)
        cell = self.cell
        rec = F.linear(h, cell.weight_hh, cell.bias_hh + cell.bias_ih)  # (U, 4H)
        gates = F.linear(x, cell.weight_ih) + rec[idx]
        i, f, g, o = gates.chunk(4, 1)  # PyTorch LSTM gate order
        c_new = torch.sigmoid(f) * c[idx] + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new)

    def naive(self, seq: torch.Tensor):
        """Unrolled reference with nn.LSTMCell over all K+1 steps of every sequence (B, K+1, D)
        -> (memory states (B, K, H), h_T (B, H))."""
        if not self.use_lstm:
            h = F.relu(self.fc(seq))
            return h[:, :-1], h[:, -1]
        hx, cx = self._zeros(seq.shape[0], seq)
        states = []
        for t in range(seq.shape[1]):
            hx, cx = self.cell(seq[:, t], (hx, cx))
            states.append(hx)
        return torch.stack(states[:-1], 1), states[-1]


def activation_weights(h_t: torch.Tensor, h_hist: torch.Tensor) -> torch.Tensor:
    """Eq. 1: theta_{T-i} = cos(h_T, h_{T-i}); h_t (B, H), h_hist (B, K, H) -> (B, K)."""
    return F.cosine_similarity(h_hist, h_t[:, None, :], dim=-1, eps=1e-8)


def aggregate(h_t: torch.Tensor, h_hist: torch.Tensor, mode: str):
    """Returns (h* (B, 2H) or (B, H), theta (B, K) or None, a_T (B, H) or None).

    mal:  Eq. 2  h~ = sum_i theta_i h_{T-i};  Eq. 4  a_T = sum_i softmax(theta)_i h_{T-i}
    apl:  h~ = mean_i h_{T-i} (average-pooling ablation); a_T = h~
    none: h* = h_T (Baseline / +LSTM ablations)
    """
    if mode == "none":
        return h_t, None, None
    if mode == "apl":
        h_tilde = h_hist.mean(1)
        return torch.cat([h_tilde, h_t], 1), None, h_tilde
    if mode != "mal":
        raise ValueError(f"unknown aggregation {mode!r}")
    theta = activation_weights(h_t, h_hist)
    h_tilde = (theta[:, :, None] * h_hist).sum(1)                      # Eq. 2
    a_t = (torch.softmax(theta, 1)[:, :, None] * h_hist).sum(1)        # Eq. 4
    return torch.cat([h_tilde, h_t], 1), theta, a_t                    # h* = [h~ ; h_T]
