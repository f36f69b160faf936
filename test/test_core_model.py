"""Memory generator, MAL, prefix sharing, the losses (Eq. 1-7), dropout and batch drawing on tiny tensors."""

import copy
import math

import numpy as np
import pytest
import torch

from rman_ros.core.losses import loss_a, loss_b, loss_c, total_loss
from rman_ros.core.memory import activation_weights, aggregate
from rman_ros.core.model import RMANHead
from rman_ros.core.config import RMANConfig
from rman_ros.core.updater import batch_losses


@pytest.mark.parametrize("use_lstm,agg", [(True, "mal"), (True, "none"), (True, "apl"), (False, "mal")])
def test_prefix_sharing_equals_naive_unroll(use_lstm, agg):
    torch.manual_seed(0)
    K, D = 5, 24
    head = RMANHead(D, hidden=16, fc_hidden=8, use_lstm=use_lstm, aggregation=agg).double()
    hists = torch.randn(3, K, D, dtype=torch.float64)          # 3 distinct histories
    idx = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0])
    x = torch.randn(len(idx), D, dtype=torch.float64)
    shared = head(hists, idx, x)
    naive = head.forward_naive(torch.cat([hists[idx], x[:, None]], 1))
    for k in ("logits", "h_t", "h_star", "theta", "a_t"):
        if naive[k] is None:
            assert shared[k] is None
            continue
        assert torch.allclose(shared[k], naive[k], atol=1e-5, rtol=0), k
    # and against a hand-unrolled LSTMCell loop, one sample at a time
    if use_lstm:
        cell = head.generator.cell
        for b in range(len(idx)):
            h = c = torch.zeros(1, 16, dtype=torch.float64)
            for t in range(K):
                h, c = cell(hists[idx[b], t][None], (h, c))
            h, c = cell(x[b][None], (h, c))
            assert torch.allclose(shared["h_t"][b], h[0], atol=1e-5)


@pytest.mark.parametrize("agg", ["mal", "apl", "none"])
def test_logits_only_scoring_gives_the_same_logits(agg):
    torch.manual_seed(2)
    head = RMANHead(12, hidden=10, fc_hidden=6, aggregation=agg).eval()
    hist, idx, x = torch.randn(3, 4, 12), torch.tensor([0, 2, 1, 1, 0]), torch.randn(5, 12)
    mem = head.generator.history(hist)
    full = head.forward_from(mem, idx, x)
    short = head.forward_from(mem, idx, x, logits_only=True)
    assert torch.equal(full["logits"], short["logits"])
    if agg != "none":
        assert short["h_star"] is None and full["h_star"] is not None
    ref = torch.softmax(head(hist[:1], torch.zeros(5, dtype=torch.long), x)["logits"], 1)[:, 1]
    assert torch.equal(head.score(hist[0], x), ref)


def test_prefix_sharing_float32_gradients_match():
    torch.manual_seed(1)
    head = RMANHead(12, hidden=10, fc_hidden=6)
    hist = torch.randn(2, 4, 12)
    idx = torch.tensor([0, 1, 1, 0])
    x = torch.randn(4, 12)
    head(hist, idx, x)["logits"].sum().backward()
    g1 = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()
    head.forward_naive(torch.cat([hist[idx], x[:, None]], 1))["logits"].sum().backward()
    for a, b in zip(g1, [p.grad for p in head.parameters()]):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_fused_lstm_history_gradients(k):
    """The hand-written backward of the K history steps (one weight-gradient product over all steps)
    against finite differences, for every output (states, c after T-1, the candidate step's rec)."""
    from rman_ros.core.memory import _LSTMHistory
    torch.manual_seed(k)
    cell = torch.nn.LSTMCell(7, 6).double()
    x = torch.randn(3, k, 7, dtype=torch.float64, requires_grad=True)
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh]
    args = (x,) + tuple(p.detach().clone().requires_grad_() for p in params)
    assert torch.autograd.gradcheck(_LSTMHistory.apply, args)
    states, c, rec = _LSTMHistory.apply(*args)  # and the forward is nn.LSTMCell's
    h = cc = torch.zeros(3, 6, dtype=torch.float64)
    for t in range(k):
        h, cc = cell(x[:, t], (h, cc))
        assert torch.allclose(states[:, t], h, atol=1e-12)
    assert torch.allclose(c, cc, atol=1e-12)
    assert torch.allclose(rec, h @ cell.weight_hh.T + cell.bias_hh + cell.bias_ih, atol=1e-12)


def test_mal_by_hand():
    h_t = torch.tensor([[1.0, 0.0]])
    h_hist = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]])
    theta = activation_weights(h_t, h_hist)                          # Eq. 1
    assert torch.allclose(theta, torch.tensor([[1.0, 0.0, 1 / math.sqrt(2)]]), atol=1e-6)
    h_star, th, a_t = aggregate(h_t, h_hist, "mal")
    h_tilde = torch.tensor([2.0 + 1 / math.sqrt(2), 1 / math.sqrt(2)])  # Eq. 2
    assert torch.allclose(h_star[0], torch.cat([h_tilde, h_t[0]]), atol=1e-6)
    w = torch.softmax(torch.tensor([1.0, 0.0, 1 / math.sqrt(2)]), 0)    # Eq. 4
    assert torch.allclose(a_t[0], (w[:, None] * h_hist[0]).sum(0), atol=1e-6)
    h_star, _, a_t = aggregate(h_t, h_hist, "apl")
    assert torch.allclose(h_star[0], torch.tensor([1.0, 4 / 3, 1.0, 0.0]), atol=1e-6)
    assert aggregate(h_t, h_hist, "none")[0] is h_t


def test_loss_c_by_hand():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [0.5, 0.5]])
    labels = torch.tensor([1, 0, 1])
    p = [math.exp(2) / (1 + math.exp(2)), math.exp(1) / (math.exp(1) + math.exp(-1)), 0.5]
    expected = -sum(math.log(v) for v in p) / 3                       # Eq. 3
    assert loss_c(logits, labels).item() == pytest.approx(expected, abs=1e-6)


def test_loss_a_by_hand():
    hp = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    ap = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    hn = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    an = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # pair 1: 1 - 9 + 1 = -7 -> 0 ; pair 2: 1 - 0.25 + 1 = 1.75       Eq. 5
    assert loss_a(hp, ap, hn, an, tau=1.0).item() == pytest.approx(1.75 / 2, abs=1e-6)
    assert loss_a(hp, ap, hn, an, tau=0.0).item() == pytest.approx(0.75 / 2, abs=1e-6)


def test_loss_b_by_hand():
    hsp = torch.tensor([[1.0, 0.0], [3.0, 0.0]])                       # mu = (2, 0)
    hsn = torch.tensor([[2.0, 2.0], [0.0, 0.0]])
    # ||p1-mu||^2 / ||n1-mu||^2 = 1/4 ; ||p2-mu||^2 / ||n2-mu||^2 = 1/4  Eq. 6
    assert loss_b(hsp, hsn).item() == pytest.approx(0.25, abs=1e-6)


def test_total_loss_and_batch_losses():
    assert total_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0), 2.0, 5e-4).item() == \
        pytest.approx(1 + 4 + 2e-3)                                    # Eq. 7
    assert total_loss(torch.tensor(1.0), None, None, 2.0, 5e-4).item() == 1.0
    torch.manual_seed(0)
    head = RMANHead(8, hidden=6, fc_hidden=4)
    out = head(torch.randn(1, 3, 8), torch.zeros(6, dtype=torch.long), torch.randn(6, 8))
    cfg = RMANConfig()
    tot, lc, la, lb = batch_losses(out, 3, cfg)
    assert tot.item() == pytest.approx((lc + cfg.lambda1 * la + cfg.lambda2 * lb).item(), rel=1e-6)
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    assert lc.item() == pytest.approx(loss_c(out["logits"], labels).item())
    tot2, _, la2, lb2 = batch_losses(out, 3, cfg.replace(use_la=False, use_lb=False))
    assert la2 is None and lb2 is None and tot2.item() == pytest.approx(lc.item())


def test_training_separates_positives_from_negatives():
    from rman_ros.core.pools import FrameSamples
    from rman_ros.core.updater import train_head
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    D = 16
    head = RMANHead(D, hidden=16, fc_hidden=8)
    hist = torch.ones(5, D)
    pos = torch.randn(200, D) + 1.0
    neg = torch.randn(200, D) - 1.0
    cfg = RMANConfig(K=5, batch_pairs=16, hard_negative_pool=2)
    train_head(head, [FrameSamples(0, hist, pos)], [FrameSamples(0, hist, neg)], 60, 2e-4, cfg, rng)
    with torch.no_grad():
        sp, sn = head.score(hist, pos), head.score(hist, neg)
    assert sp.mean() > 0.8 and sn.mean() < 0.2


def test_bf16_scoring_tracks_fp32_and_follows_weight_changes():
    """bf16 scoring stays close to fp32, never touches the autograd path, and recasts its weight copies
    after an optimiser step (a stale copy would keep scoring with the old weights)."""
    torch.manual_seed(3)
    head = RMANHead(64, hidden=32, fc_hidden=16).eval()
    hist, x = torch.randn(5, 64), torch.randn(40, 64)
    with torch.no_grad():
        ref = head.score(hist, x)
        head.set_bf16_scoring(True)
        low = head.score(hist, x)
    assert not torch.equal(low, ref)  # the bf16 path did run
    assert (low - ref).abs().max() < 2e-3
    out = head(hist[None], torch.zeros(40, dtype=torch.long), x)  # with autograd: fp32 as before
    head.set_bf16_scoring(False)
    with torch.no_grad():
        assert torch.equal(out["logits"], head(hist[None], torch.zeros(40, dtype=torch.long), x)["logits"])
    head.set_bf16_scoring(True)
    opt = torch.optim.SGD(head.parameters(), lr=1.0)
    (out["logits"][:, 1] * torch.linspace(-1, 1, 40)).sum().backward()
    opt.step()  # scores change
    with torch.no_grad():
        low2 = head.score(hist, x)
        head.set_bf16_scoring(False)
        ref2 = head.score(hist, x)
    assert (ref2 - ref).abs().max() > 0.05
    assert (low2 - ref2).abs().max() < 2e-3
    # the tracker's own step (fused SGD, which does not bump version counters)
    from rman_ros.core.updater import make_optimizer, sgd_step
    opt = make_optimizer(head, 0.3, RMANConfig())
    out = head(hist[None], torch.zeros(40, dtype=torch.long), x)
    (out["logits"][:, 1] * torch.linspace(1, -1, 40)).sum().backward()
    sgd_step(head, opt, RMANConfig())
    head.set_bf16_scoring(True)
    with torch.no_grad():
        low3 = head.score(hist, x)
        head.set_bf16_scoring(False)
        ref3 = head.score(hist, x)
        head.set_bf16_scoring(True)
    assert (ref3 - ref2).abs().max() > 0.05
    assert (low3 - ref3).abs().max() < 2e-3
    low2 = low3
    twin = copy.deepcopy(head)  # a copied head casts its own weights
    with torch.no_grad():
        twin.fc1.weight.mul_(0.5)
        twin.set_bf16_scoring(True)
        head.set_bf16_scoring(True)
        assert (twin.score(hist, x) - head.score(hist, x)).abs().max() > 0.01
        assert (head.score(hist, x) - low2).abs().max() == 0


@pytest.mark.parametrize("clip", [1e-3, 1e6])
def test_sgd_step_matches_clip_then_decayed_momentum_sgd(clip):
    """sgd_step = clip_grad_norm_, then SGD with momentum and weight decay (torch's reference path)."""
    from rman_ros.core.updater import make_optimizer, sgd_step
    torch.manual_seed(4)
    cfg = RMANConfig(grad_clip=clip)
    a = RMANHead(12, hidden=8, fc_hidden=6)
    b = copy.deepcopy(a)
    opt_a = make_optimizer(a, 0.05, cfg)
    last = list(b.fc2.parameters())
    rest = [p for p in b.parameters() if all(p is not q for q in last)]
    opt_b = torch.optim.SGD([{"params": rest, "lr": 0.05}, {"params": last, "lr": 0.05 * cfg.lr_mult_classifier}],
                            momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=False)
    hist, idx, x = torch.randn(2, 5, 12), torch.tensor([0, 1, 1]), torch.randn(3, 12)
    for _ in range(3):
        for head, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            head(hist, idx, x)["logits"].pow(2).sum().backward()
        sgd_step(a, opt_a, cfg)
        torch.nn.utils.clip_grad_norm_(list(b.parameters()), clip, foreach=False)
        opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6, rtol=1e-5)


def test_sample_pools_window_and_first_record():
    from rman_ros.core.pools import SamplePools
    pools = SamplePools(pos_frames=3, neg_frames=2)
    hist = torch.zeros(2, 4)
    for f in range(6):
        pools.add(f, hist, torch.full((2, 4), float(f)), torch.full((3, 4), -float(f)))
    pos, neg = pools.snapshot()
    assert [r.frame for r in neg] == [4, 5]
    assert [r.frame for r in pos] == [3, 4, 5]
    pos, _ = pools.snapshot(pos_last=2)  # short-term updates use the recent frames only
    assert [r.frame for r in pos] == [4, 5]
    assert torch.equal(pools.first.feats, torch.zeros(2, 4))  # the first frame's record outlives the window


def test_sample_table_draws_what_one_gather_per_frame_draws():
    from rman_ros.core.pools import FrameSamples
    from rman_ros.core.updater import SampleTable
    g = torch.Generator().manual_seed(0)
    recs = [FrameSamples(f, torch.randn(3, 4, generator=g), torch.randn(int(m), 4, generator=g))
            for f, m in enumerate([5, 1, 40, 7, 300, 2])]
    table = SampleTable(recs)

    def per_frame(frame_ids, n, rng, offset):  # the plain version: one draw and one gather per frame, in turn
        which = rng.integers(0, len(frame_ids), n)
        feats, idx = [], []
        for j, fid in enumerate(frame_ids):
            m = int((which == j).sum())
            if m:
                feats.append(recs[fid].feats[torch.from_numpy(rng.integers(0, recs[fid].feats.shape[0], m))])
                idx += [offset + j] * m
        return torch.cat(feats), torch.tensor(idx)

    for seed in range(20):
        pick = np.random.default_rng(100 + seed)
        fids = pick.choice(len(recs), int(pick.integers(1, 5)), replace=False)
        n = int(pick.integers(1, 70))
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        x, i = table.draw(fids, n, a, 3)
        x_ref, i_ref = per_frame(fids, n, b, 3)
        assert torch.equal(x, x_ref) and torch.equal(i, i_ref)
        assert a.integers(0, 2**62) == b.integers(0, 2**62)  # and both used the same random numbers


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_dropout_drops_the_configured_fraction_reproducibly(p):
    head = RMANHead(8, hidden=4, fc_hidden=4, dropout=p).train()
    x = torch.ones(500, 400)
    head.dropout_rng = np.random.default_rng(7)
    y = head.drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)), rtol=1e-4)  # E[y] = x
    head.dropout_rng = np.random.default_rng(7)
    assert torch.equal(head.drop(x), y)  # same seed, same mask
    assert not torch.equal(head.drop(x), y)
    assert torch.equal(head.eval().drop(x), x)  # no dropout outside training


def test_repeated_histories_of_a_batch_run_once_with_the_same_result():
    from rman_ros.core.updater import _distinct
    torch.manual_seed(0)
    a, b, c = (torch.randn(5, 12) for _ in range(3))
    stack, slots = _distinct([a, b, a, c, b])
    assert stack.shape == (3, 5, 12) and slots.tolist() == [0, 1, 0, 2, 1]
    assert torch.equal(stack[2], c)
    same, none = _distinct([a, b, torch.randn(5, 12)])
    assert none is None and same.shape[0] == 3
    # the head scores samples identically whether their history is shared or repeated
    head = RMANHead(12, hidden=16, fc_hidden=8).double()
    idx = torch.tensor([0, 1, 2, 3, 4, 4, 2])
    x = torch.randn(len(idx), 12, dtype=torch.float64)
    rep = head(torch.stack([a, b, a, c, b]).double(), idx, x)
    dedup = head(stack.double(), slots[idx], x)
    for k in ("logits", "h_t", "h_star", "a_t"):
        assert torch.allclose(rep[k], dedup[k], atol=1e-12), k
