"""RMAN training losses (Eq. 3, 5, 6, 7). Positives and negatives are paired by index."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def loss_c(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 3: binary cross-entropy of the 2-way softmax over the 2N sequence samples (mean)."""
    return F.cross_entropy(logits, labels.long())


def loss_a(h_pos: torch.Tensor, a_pos: torch.Tensor, h_neg: torch.Tensor, a_neg: torch.Tensor,
           tau: float = 1.0) -> torch.Tensor:
    """Eq. 5: 1/N sum_m [ ||h_T(X^p_m) - a_T(X^p_m)||^2 - ||h_T(X^n_m) - a_T(X^n_m)||^2 + tau ]_+"""
    dp = (h_pos - a_pos).pow(2).sum(1)
    dn = (h_neg - a_neg).pow(2).sum(1)
    return torch.clamp(dp - dn + tau, min=0).mean()


def loss_b(hs_pos: torch.Tensor, hs_neg: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 6: 1/N sum_m ||h*(X^p_m) - mu||^2 / ||h*(X^n_m) - mu||^2,  mu = mean of positive h*."""
    mu = hs_pos.mean(0, keepdim=True)
    return ((hs_pos - mu).pow(2).sum(1) / ((hs_neg - mu).pow(2).sum(1) + eps)).mean()


def total_loss(lc: torch.Tensor, la, lb, lambda1: float, lambda2: float) -> torch.Tensor:
    """Eq. 7: L = Lc + lambda1 La + lambda2 Lb (a missing term counts as 0)."""
    out = lc
    if la is not None:
        out = out + lambda1 * la
    if lb is not None:
        out = out + lambda2 * lb
    return out
