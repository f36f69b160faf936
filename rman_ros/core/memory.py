"""Memory generator (LSTM over K+1 branches) and memory activation layer (MAL, Eq. 1-2).

Sequence order is T-K, ..., T-1 (the K tracked target patches) then T (the candidate).
Exact prefix sharing: the LSTM is causal and all candidates of a frame share the K history steps,
so `history()` runs the K steps once per distinct history and `last_step()` runs one step per sample.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class Memory(NamedTuple):
    """What the K history steps leave for the candidate step: memory states (U, K, H), the LSTM state
    (h, c) after T-1, each (U, H), and rec = W_hh h + b (U, 4H) (None without the LSTM)."""
    states: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor
    rec: Optional[torch.Tensor]

    def detach(self) -> "Memory":
        return Memory(*(None if t is None else t.detach() for t in self))


class _LSTMHistory(torch.autograd.Function):
    """The K history steps of an LSTM (zero initial state) with a hand-written backward.

    Same maths as K calls of nn.LSTMCell, but the backward forms each weight gradient with ONE matrix
    product over all U*K steps (autograd would form and sum K of them, each streaming a 4H x H matrix
    through memory); the input projection of all steps is one product in the forward as well, and the
    first step skips the recurrent product (h = 0). It also returns `rec = W_hh h_{T-1} + b`, the part of
    the candidate step's gates that is shared by every candidate of a history, so the weight gradient
    of the candidate step joins the same product."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, bias):  # x (U, K, D); bias = b_ih + b_hh (4H,)
        u, k, d = x.shape
        hd = w_hh.shape[1]
        gx = torch.addmm(bias, x.reshape(u * k, d), w_ih.t()).view(u, k, 4 * hd)
        acts = x.new_empty((u, k, 4 * hd))  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        hs = x.new_empty((u, k, hd))
        cs = x.new_empty((u, k, hd))
        tcs = x.new_empty((u, k, hd))  # tanh(c)
        for t in range(k):
            # (W_hh h^T)^T rather than h W_hh^T: same product, but for the few rows of a history batch
            # this operand order streams the 4H x H matrix about 1.5x faster on CPU
            g = gx[:, t] if t == 0 else gx[:, t] + (w_hh @ hs[:, t - 1].t()).t()
            a = acts[:, t]
            torch.sigmoid(g, out=a)
            a[:, 2 * hd:3 * hd] = torch.tanh(g[:, 2 * hd:3 * hd])
            i, f, gg, o = a.chunk(4, 1)
            c = i * gg if t == 0 else torch.addcmul(i * gg, f, cs[:, t - 1])
            cs[:, t] = c
            torch.tanh(c, out=tcs[:, t])
            torch.mul(o, tcs[:, t], out=hs[:, t])
        rec = (w_hh @ hs[:, -1].t()).t() + bias  # (U, 4H)
        ctx.save_for_backward(x, w_ih, w_hh, acts, hs, cs, tcs)
        return hs, cs[:, -1].clone(), rec

    @staticmethod
    def backward(ctx, g_hs, g_c, g_rec):
        x, w_ih, w_hh, acts, hs, cs, tcs = ctx.saved_tensors
        u, k, d = x.shape
        hd = hs.shape[2]
        # local derivatives of every step at once, so the recurrence below is a few ops per step:
        # d_gates = [dc * g i(1-i), dc * c_{t-1} f(1-f), dc * i(1-g^2), dh * tanh(c) o(1-o)], dc += dh o(1-tanh^2 c)
        i, f, gg, o = acts.chunk(4, 2)  # each (U, K, H)
        d_gates = torch.empty_like(acts)
        torch.mul(gg, i * (1 - i), out=d_gates[..., :hd])
        d_gates[:, 0, hd:2 * hd] = 0.0  # c_{-1} = 0
        torch.mul(cs[:, :-1], f[:, 1:] * (1 - f[:, 1:]), out=d_gates[:, 1:, hd:2 * hd])
        torch.mul(i, 1 - gg * gg, out=d_gates[..., 2 * hd:3 * hd])
        torch.mul(tcs, o * (1 - o), out=d_gates[..., 3 * hd:])
        dc_dh = o * (1 - tcs * tcs)
        g_rec = g_rec if g_rec is not None else hs.new_zeros((u, 4 * hd))
        dh = g_rec @ w_hh
        dc = g_c if g_c is not None else hs.new_zeros((u, hd))
        for t in range(k - 1, -1, -1):
            if g_hs is not None:
                dh = dh + g_hs[:, t]
            dc = torch.addcmul(dc, dh, dc_dh[:, t])
            dg = d_gates[:, t]
            dg[:, :3 * hd].view(u, 3, hd).mul_(dc[:, None])
            dg[:, 3 * hd:].mul_(dh)
            if t > 0:
                dc = dc * f[:, t]
                dh = dg @ w_hh
        flat = d_gates.reshape(u * k, 4 * hd)
        g_x = g_wih = g_whh = g_b = None
        if ctx.needs_input_grad[0]:
            g_x = (flat @ w_ih).view(u, k, d)
        if ctx.needs_input_grad[1]:
            g_wih = flat.t() @ x.reshape(u * k, d)
        if ctx.needs_input_grad[2]:  # gates of steps 2..K and rec, against the h that fed them
            g_whh = torch.cat([d_gates[:, 1:], g_rec[:, None]], 1).reshape(-1, 4 * hd).t() @ hs.reshape(-1, hd)
        if ctx.needs_input_grad[3]:
            g_b = flat.sum(0) + g_rec.sum(0)
        return g_x, g_wih, g_whh, g_b


class Bf16Copy:
    """A bf16 copy of one weight for no-grad scoring, recast only after the weight has changed: after an
    in-place write that bumps the tensor's version counter (load_state_dict, foreach optimisers) or an
    explicit `invalidate()` (fused optimiser kernels write without bumping it)."""

    def __init__(self):
        self._src: Optional[torch.Tensor] = None
        self._version = -1
        self._copy: Optional[torch.Tensor] = None

    def invalidate(self) -> None:
        self._src = self._copy = None

    def get(self, w: torch.Tensor) -> torch.Tensor:
        if self._src is not w or self._version != w._version:
            self._copy = w.detach().to(torch.bfloat16)
            self._src, self._version = w, w._version
        return self._copy

    def __deepcopy__(self, memo):  # a copied head casts its own weights
        return Bf16Copy()


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

    def history(self, hist: torch.Tensor) -> Memory:
        """hist (U, K, D) ordered T-K..T-1 -> Memory: states (U, K, H), the LSTM state (h, c) after T-1 and
        the recurrent gate term of the candidate step."""
        u, k, _ = hist.shape
        if not self.use_lstm:
            h, c = self._zeros(u, hist)
            return Memory(F.relu(self.fc(hist)), h, c, None)
        cell = self.cell
        states, c, rec = _LSTMHistory.apply(hist, cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh)
        return Memory(states, states[:, -1], c, rec)

    def last_step(self, x: torch.Tensor, memory: Memory, idx: Optional[torch.Tensor] = None,
                  w_ih_bf16: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One LSTM step for x (B, D) from the memory of U histories; sample b uses history idx[b].

        The recurrent term W_hh h + b comes once per distinct history (U rows) from `history()`, so each
        candidate only costs its input projection (same maths as nn.LSTMCell). With `w_ih_bf16` (a bf16
        copy of W_ih, for scoring without autograd) that projection runs in bf16."""
        if not self.use_lstm:
            return F.relu(self.fc(x))
        rec, c = memory.rec, memory.c
        if idx is None:
            idx = torch.arange(x.shape[0], device=x.device)
        cell = self.cell
        if rec.shape[0] == 1:  # one history (detection): broadcast instead of gathering B copies
            c_prev = c
        elif torch.is_grad_enabled():
            # training: a one-hot product instead of indexing, so that the backward is a product too and not
            # an accumulating scatter into U rows (several times slower on CPU); the forward is exact
            sel = F.one_hot(idx, rec.shape[0]).to(rec.dtype)
            rec, c_prev = sel @ rec, sel @ c
        else:
            rec, c_prev = rec[idx], c[idx]
        if w_ih_bf16 is not None:  # fp32 rec + the bf16 product, promoted in the same pass
            gates = torch.add(rec, torch.mm(x.to(torch.bfloat16), w_ih_bf16.t()))
        else:
            gates = torch.addmm(rec, x, cell.weight_ih.t())
        i, f, g, o = gates.chunk(4, 1)  # PyTorch LSTM gate order
        c_new = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
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
