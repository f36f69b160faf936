"""The trainable RMAN head: memory generator + MAL + classifier (1024 -> 512 -> 2)."""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .memory import Bf16Copy, MemoryGenerator, aggregate
from .runtime import host_to_device


class RMANHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 512, fc_hidden: int = 512, use_lstm: bool = True,
                 aggregation: str = "mal", dropout: float = 0.0):
        super().__init__()
        self.aggregation = aggregation
        self.p_drop = float(dropout)  # py-MDNet: dropout before fc5 and fc6 (training only)
        self.dropout_rng = np.random.default_rng(0)  # own RNG: dropout masks are reproducible and thread-local
        self.generator = MemoryGenerator(in_dim, hidden, use_lstm)
        cls_in = hidden if aggregation == "none" else 2 * hidden
        self.fc1 = nn.Linear(cls_in, fc_hidden)
        self.fc2 = nn.Linear(fc_hidden, 2)
        self.bf16_scoring = False
        self._w_ih_bf16 = Bf16Copy()
        self._fc1_bf16 = Bf16Copy()

    def set_bf16_scoring(self, on: bool) -> None:
        """Scoring without autograd (detection, hard-negative mining) runs the two per-candidate products,
        the LSTM input product and fc1's h_T half, in bf16 (fp32 accumulation; several times faster on CPUs
        with AMX). Training products stay fp32."""
        self.bf16_scoring = bool(on)

    def weights_changed(self) -> None:
        """Call after writing the weights in place by other means than autograd-visible ops (the fused SGD
        step does not bump the version counters): the bf16 copies are recast on next use."""
        self._w_ih_bf16.invalidate()
        self._fc1_bf16.invalidate()

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p_drop <= 0:
            return x
        # 16-bit uniform integers: the keep probability is rounded to a multiple of 2^-16 (exact for 0.5), and
        # drawing them takes a third of the time torch.rand takes with its own generator
        threshold = round((1.0 - self.p_drop) * 65536)  # P(keep) = threshold / 2^16
        draws = self.dropout_rng.integers(0, 65536, tuple(x.shape), dtype=np.uint16)
        scale = host_to_device((draws < threshold) * np.float32(65536 / threshold), x.device)
        return x * scale

    def classify(self, h_star: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.relu(self.fc1(self.drop(h_star)))))

    def _finish(self, h_hist: torch.Tensor, h_t: torch.Tensor) -> Dict[str, torch.Tensor]:
        h_star, theta, a_t = aggregate(h_t, h_hist, self.aggregation)
        return {"logits": self.classify(h_star), "h_t": h_t, "h_hist": h_hist, "h_star": h_star,
                "theta": theta, "a_t": a_t}

    def _finish_shared(self, states: torch.Tensor, idx: torch.Tensor, h_t: torch.Tensor,
                       logits_only: bool = False, lowp: bool = False):
        """Same maths as _finish, without materialising per-sample copies of the history states
        (logits_only: skip h~, a_T and h*, which scoring without dropout does not need).

        The B x K weights (theta for Eq. 1-2, softmax(theta) for Eq. 4) are scattered into a B x (U*K)
        matrix over the U*K distinct memory states, and fc1's h~ half is applied to the U*K states once
        (fc1([h~; h_T]) = W_a (sum_i theta_i h_i) + W_b h_T + b = sum_i theta_i (W_a h_i) + W_b h_T + b)."""
        if self.aggregation == "none":
            return {"logits": self.classify(h_t), "h_t": h_t, "h_hist": None, "h_star": h_t,
                    "theta": None, "a_t": None}
        u, k, hd = states.shape
        flat = states.reshape(u * k, hd)
        cols = idx[:, None] * k + torch.arange(k, device=idx.device)[None]  # (B, K)
        if self.aggregation == "mal":
            dots = (h_t @ flat.T).gather(1, cols)
            norms = h_t.norm(dim=1, keepdim=True).clamp_min(1e-8) * flat.norm(dim=1).clamp_min(1e-8)[cols]
            theta = dots / norms                                               # Eq. 1
            soft = torch.softmax(theta, 1)                                     # Eq. 4
        else:  # apl
            theta = None
            soft = h_t.new_full((h_t.shape[0], k), 1.0 / k)
        w = h_t.new_zeros((h_t.shape[0], u * k)).scatter(1, cols, theta if theta is not None else soft)
        dropout = self.training and self.p_drop > 0
        h_star = a_t = None
        if dropout or not logits_only:
            ws = w if theta is None else h_t.new_zeros((h_t.shape[0], u * k)).scatter(1, cols, soft)
            h_tilde = w @ flat                                                 # Eq. 2 (or APL mean)
            a_t = ws @ flat
            h_star = torch.cat([h_tilde, h_t], 1)
        if dropout:  # dropout on h* does not factor through fc1
            return {"logits": self.classify(h_star), "h_t": h_t, "h_hist": None, "h_star": h_star,
                    "theta": theta, "a_t": a_t}
        w1a, w1b = self.fc1.weight[:, :hd], self.fc1.weight[:, hd:]
        if lowp:
            w1b_lp = self._fc1_bf16.get(self.fc1.weight)[:, hd:]
            zb = torch.add(self.fc1.bias, torch.mm(h_t.to(torch.bfloat16), w1b_lp.t()))
        else:
            zb = F.linear(h_t, w1b, self.fc1.bias)
        z = w @ (flat @ w1a.T) + zb
        logits = self.fc2(self.drop(F.relu(z)))
        return {"logits": logits, "h_t": h_t, "h_hist": None, "h_star": h_star,
                "theta": theta, "a_t": a_t}

    def forward(self, hist: torch.Tensor, hist_idx: torch.Tensor, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Prefix-shared forward.

        hist (U, K, D): the distinct histories (ordered T-K..T-1); hist_idx (B,) which history each of the
        B candidates x (B, D) belongs to. The K history steps run once per distinct history.
        """
        return self.forward_from(self.generator.history(hist), hist_idx, x)

    def forward_from(self, memory, hist_idx: torch.Tensor, x: torch.Tensor,
                     logits_only: bool = False) -> Dict[str, torch.Tensor]:
        """The candidate step and MAL from precomputed `memory = generator.history(hist)`, so several
        batches of candidates (e.g. hard-negative scoring and the training batch) share one history pass.
        logits_only: h_star and a_t may be None (scoring)."""
        hist_idx = hist_idx.to(x.device)
        lowp = self.bf16_scoring and not torch.is_grad_enabled()
        w_ih = self._w_ih_bf16.get(self.generator.cell.weight_ih) if lowp and self.generator.use_lstm else None
        h_t = self.generator.last_step(x, memory, hist_idx, w_ih)
        return self._finish_shared(memory.states, hist_idx, h_t, logits_only, lowp)

    def forward_naive(self, seq: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reference forward over full sequences seq (B, K+1, D) (every sample unrolled on its own)."""
        states, h_t = self.generator.naive(seq)
        return self._finish(states, h_t)

    def score(self, hist: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Positive probability of candidates x (B, D) sharing one history hist (K, D)."""
        idx = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        logits = self.forward_from(self.generator.history(hist[None]), idx, x, logits_only=True)["logits"]
        return torch.softmax(logits, 1)[:, 1]
