"""Online training of the RMAN head: mini-batches of sequence samples, SGD, sync and async modes."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import traceback
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .losses import loss_a, loss_b, loss_c, total_loss
from .model import RMANHead
from .pools import FrameSamples
from .runtime import host_to_device


class SampleTable:
    """The features of a list of frame records as one (N, D) table, built once per training run, so that
    drawing a mini-batch is one gather instead of one small gather per frame."""

    def __init__(self, recs: Sequence[FrameSamples]):
        sizes = [r.feats.shape[0] for r in recs]
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.feats = torch.cat([r.feats for r in recs])
        self.hists = [r.hist for r in recs]

    def draw(self, frame_ids: np.ndarray, n: int, rng: np.random.Generator,
             hist_offset: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """n samples spread uniformly over the chosen frames, grouped by frame in the order of frame_ids
        -> (features (n, D), history index (n,): hist_offset + position in frame_ids)."""
        which = rng.integers(0, len(frame_ids), n)
        counts = np.bincount(which, minlength=len(frame_ids))
        fids = np.asarray(frame_ids)
        # one call with per-sample bounds draws the same numbers as one call per frame in turn
        rows = np.repeat(self.starts[fids], counts) + rng.integers(0, np.repeat(self.sizes[fids], counts))
        idx = np.repeat(np.arange(hist_offset, hist_offset + len(fids)), counts)
        dev = self.feats.device
        return self.feats[host_to_device(rows, dev)], host_to_device(idx, dev)


def _distinct(hists: List[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Stack the distinct histories of a batch (U, K, D) once each. A frame's positives and negatives share
    one history tensor, so the first-frame training has one history, not two. Returns the stack and, when
    some were repeated, the slot in it of each input position (None when all are distinct)."""
    first, uniq, slots = {}, [], []
    for h in hists:
        if id(h) not in first:
            first[id(h)] = len(uniq)
            uniq.append(h)
        slots.append(first[id(h)])
    if len(uniq) == len(hists):
        return torch.stack(hists), None
    return torch.stack(uniq), host_to_device(np.asarray(slots, dtype=np.int64), hists[0].device)


# the phases of a training iteration, labelled for torch.profiler while one runs (python -m rman_ros.profile_update sums
# them); otherwise a phase is a null context, as a label costs about 10 us
PHASES = ("draw", "history", "hard_negatives", "forward", "backward", "sgd")


def _phase(name: str):
    if torch.autograd.profiler._is_profiler_enabled:
        return torch.profiler.record_function(f"rman.train.{name}")
    return contextlib.nullcontext()


def make_optimizer(head: RMANHead, lr: float, cfg) -> torch.optim.Optimizer:
    last = list(head.fc2.parameters())
    last_ids = {id(p) for p in last}
    rest = [p for p in head.parameters() if id(p) not in last_ids]
    # the fused kernel adds weight decay, applies momentum and steps in one pass over each parameter
    # (the foreach path makes a fresh copy of every gradient for weight decay, then four more passes)
    return torch.optim.SGD([{"params": rest, "lr": lr},
                            {"params": last, "lr": lr * cfg.lr_mult_classifier}],
                           lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=True)


def sgd_step(head: RMANHead, opt: torch.optim.Optimizer, cfg) -> None:
    """Gradient-norm clipping, then the SGD step with momentum and weight decay (fused)."""
    if cfg.grad_clip > 0:
        grads = [p.grad for p in head.parameters() if p.grad is not None]
        total = torch.nn.utils.get_total_norm(grads, foreach=True)
        # the scale clip_grad_norm_ would apply; at 1 (the usual case) skip its pass over the gradients
        coef = cfg.grad_clip / (total + 1e-6)
        if total.device.type != "cpu":  # no host sync: a factor clamped to 1 leaves the gradients exact
            torch._foreach_mul_(grads, coef.clamp(max=1.0))
        elif float(coef) < 1.0:
            torch._foreach_mul_(grads, coef)
    opt.step()
    head.weights_changed()  # the fused kernel leaves the version counters as they were


def batch_losses(out, n_pos: int, cfg):
    """Eq. 3, 5, 6, 7 on a batch whose first n_pos rows are positives and the rest paired negatives."""
    n = out["logits"].shape[0]
    labels = torch.zeros(n, dtype=torch.long, device=out["logits"].device)
    labels[:n_pos] = 1
    lc = loss_c(out["logits"], labels)
    la = lb = None
    m = min(n_pos, n - n_pos)
    if cfg.use_la and out["a_t"] is not None:
        la = loss_a(out["h_t"][:m], out["a_t"][:m], out["h_t"][n_pos:n_pos + m], out["a_t"][n_pos:n_pos + m],
                    cfg.tau)
    if cfg.use_lb and cfg.aggregation != "none":
        lb = loss_b(out["h_star"][:m], out["h_star"][n_pos:n_pos + m])
    return total_loss(lc, la, lb, cfg.lambda1, cfg.lambda2), lc, la, lb


def train_head(head: RMANHead, pos_recs: List[FrameSamples], neg_recs: List[FrameSamples], iters: int,
               lr: float, cfg, rng: np.random.Generator) -> float:
    """Run `iters` SGD steps; returns the last total loss."""
    if not pos_recs or not neg_recs or iters <= 0:
        return float("nan")
    head.train()
    head.dropout_rng = np.random.default_rng(int(rng.integers(0, 2**62)))
    opt = make_optimizer(head, lr * cfg.lr_scale, cfg)
    n = cfg.batch_pairs
    n_hard = n * max(1, cfg.hard_negative_pool)
    fpb = cfg.frames_per_batch
    last = float("nan")
    pos_tab, neg_tab = SampleTable(pos_recs), SampleTable(neg_recs)
    for _ in range(iters):
        with _phase("draw"):
            pf = rng.choice(len(pos_recs), min(fpb, len(pos_recs)), replace=False)
            nf = rng.choice(len(neg_recs), min(fpb, len(neg_recs)), replace=False)
            hist, slots = _distinct([pos_tab.hists[i] for i in pf] + [neg_tab.hists[i] for i in nf])
            xp, ip = pos_tab.draw(pf, n, rng, 0)
            xn, in_ = neg_tab.draw(nf, n_hard, rng, len(pf))
            if slots is not None:
                ip, in_ = slots[ip], slots[in_]
        with _phase("history"):
            memory = head.generator.history(hist)  # K steps once per distinct history, shared below
        if n_hard > n:  # hard-negative mining (py-MDNet): keep the highest scoring negatives
            with _phase("hard_negatives"), torch.no_grad():
                head.eval()
                s = head.forward_from(memory.detach(), in_, xn, logits_only=True)["logits"]
                head.train()
                top = torch.topk(s[:, 1] - s[:, 0], n).indices.sort().values
                xn, in_ = xn[top], in_[top]
        with _phase("forward"):
            out = head.forward_from(memory, torch.cat([ip, in_]), torch.cat([xp, xn]))
            loss, *_ = batch_losses(out, n, cfg)
        with _phase("backward"):
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with _phase("sgd"):
            sgd_step(head, opt, cfg)
            last = loss.detach()  # read once, after the loop (reading it here would sync with a GPU)
    head.eval()
    return float(last)


class Updater:
    """Owns the head used for tracking (`front`). Three modes:

    - sync: trains `front` in place, in the calling thread;
    - async: trains a copy (`back`) on a background thread and swaps the two when training ends, so
      tracking never waits (which frame first sees the new weights depends on timing);
    - deferred: like async, but the swap happens at a fixed frame chosen when the update starts
      (`apply_due`), so results are deterministic for a seed while the training runs beside the frames."""

    def __init__(self, head: RMANHead, cfg, rng: np.random.Generator):
        self.cfg = cfg
        self.front = head
        self.back: Optional[RMANHead] = None
        self.rng = rng
        self.updates_done = 0
        self.last_update_s: Optional[float] = None
        self.error: Optional[str] = None
        self.last_loss = float("nan")
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._due: Optional[int] = None  # deferred mode: frame at which the pending update is applied
        self._trained: Optional[Tuple[RMANHead, float, float]] = None  # deferred result: head, loss, seconds

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending(self) -> bool:
        """A deferred update has been started and not yet applied."""
        return self._due is not None

    def update(self, pos_recs, neg_recs, iters: int, lr: float, mode: str = "sync",
               due: Optional[int] = None) -> bool:
        """Run (sync) or start (async, deferred) an update. Deferred updates are applied by
        `apply_due(frame)` once frame >= due. Returns False when the request is dropped: an async update
        is still running, or a deferred one has not been applied yet."""
        if mode == "sync":
            t0 = time.perf_counter()
            self.last_loss = train_head(self.front, pos_recs, neg_recs, iters, lr, self.cfg, self.rng)
            self.last_update_s = time.perf_counter() - t0
            self.updates_done += 1
            return True
        if mode == "deferred":
            if due is None:
                raise ValueError("a deferred update needs the frame it is due at")
            if self.pending:  # refused (decided by frame counts, not timing, so still deterministic)
                return False
        elif mode != "async":
            raise ValueError(f"unknown update mode {mode!r}")
        elif self.busy:
            return False
        if self.back is None:
            self.back = copy.deepcopy(self.front)
        else:
            self.back.load_state_dict(self.front.state_dict())
        seed = int(self.rng.integers(0, 2**63 - 1))
        self._due = due if mode == "deferred" else None
        # intra-op thread counts are per thread (OpenMP): the training thread takes the caller's, so its
        # reductions run in the same order every time
        self._thread = threading.Thread(target=self._run_background, name="rman-update", daemon=False,
                                        args=(self.back, pos_recs, neg_recs, iters, lr, seed, mode == "async",
                                              torch.get_num_threads()))
        self._thread.start()
        return True

    def _run_background(self, head, pos_recs, neg_recs, iters, lr, seed, swap_when_done: bool,
                        threads: int) -> None:
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        try:
            loss = train_head(head, pos_recs, neg_recs, iters, lr, self.cfg, np.random.default_rng(seed))
        except Exception:  # reported through `error` / the track() result, never swallowed silently
            self.error = traceback.format_exc(limit=5)
            return
        if not swap_when_done:  # deferred: the tracking thread swaps at the due frame
            self._trained = (head, loss, time.perf_counter() - t0)
            return
        with self._lock:
            self._swap_in(head, loss, time.perf_counter() - t0)

    def _swap_in(self, head: RMANHead, loss: float, seconds: float) -> None:
        self.back, self.front = self.front, head  # double-buffer swap
        self.last_loss = loss
        self.last_update_s = seconds
        self.updates_done += 1
        self.error = None

    def apply_due(self, frame: int) -> bool:
        """Deferred mode: apply the pending update when `frame` has reached its due frame, waiting for
        the training if it has not finished (a failed one keeps the current weights and leaves its
        traceback in `error`). Returns True when new weights were swapped in."""
        if self._due is None or frame < self._due:
            return False
        self.wait()
        self._due = None
        trained, self._trained = self._trained, None
        if trained is None:
            return False
        self._swap_in(*trained)
        return True

    def wait(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def abandon(self) -> None:
        """Let go of this updater without waiting (its track was replaced): a training still running ends on
        its own thread, and nothing it produces is applied anywhere."""
        self._due = None
        self._trained = None

    def close(self) -> None:
        self.wait()
        self._thread = None
        self._due = None
        self._trained = None
