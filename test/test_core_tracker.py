"""RMANTracker end to end: API contract, bad input, determinism, async updates, a real OTB sequence."""

import copy
import os
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rman_ros.core import RMANConfig, RMANTracker
from rman_ros.core import analysis

DATA = Path(os.environ.get("RMAN_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
OTB = DATA / "otb"

SMALL = dict(n_init_samples=600, n_pos_init=100, init_iters=5, n_candidates=64, lstm_hidden=64, fc_hidden=32,
             update_iters=2, update_interval=3, region_px=128, region_px_init=160, region_px_lost=160,
             n_bbreg=100, n_pos_update=20, n_neg_update=40, device="cpu", batch_pairs=16)


def small_cfg(**kw):
    return RMANConfig().replace(**{**SMALL, **kw})


def load_seq(name, n):
    if not (OTB / name).is_dir():
        pytest.skip(f"OTB data not found at {OTB} (set RMAN_DATA_DIR)")
    lines = (OTB / name / "groundtruth_rect.txt").read_text().split("\n")
    gt = np.array([[float(v) for v in re.split(r"[,\s]+", ln.strip()) if v] for ln in lines if ln.strip()])
    start = 300 if name == "David" else 1
    frames = []
    for i in range(n):
        img = cv2.imread(str(OTB / name / "img" / f"{start + i:04d}.jpg"), cv2.IMREAD_UNCHANGED)
        frames.append(img[:, :, ::-1].copy() if img.ndim == 3 else img)
    return frames, gt[:n]


def synthetic(n=8, size=(120, 160)):
    """A bright textured square moving on a dark noisy background."""
    rng = np.random.default_rng(0)
    tex = rng.integers(150, 255, (24, 24, 3), dtype=np.uint8)
    frames, boxes = [], []
    for t in range(n):
        img = rng.integers(0, 60, size + (3,), dtype=np.uint8)
        x, y = 40 + 3 * t, 40 + 2 * t
        img[y:y + 24, x:x + 24] = tex
        frames.append(img)
        boxes.append((x, y, 24, 24))
    return frames, np.array(boxes, float)


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.fixture(scope="module")
def tracker():
    return RMANTracker(small_cfg())


def test_result_contract_and_synthetic_tracking(tracker):
    frames, boxes = synthetic()
    r = tracker.initialize(frames[0], boxes[0])
    assert r["state"] == "tracking" and tracker.device == "cpu"
    for img, gt in zip(frames[1:], boxes[1:]):
        r = tracker.track(img)
        assert set(r) >= {"box", "score", "state", "timings", "updates_done", "last_update_s", "update_error"}
        assert len(r["box"]) == 4 and all(isinstance(v, float) for v in r["box"])
        assert 0.0 <= r["score"] <= 1.0 and r["state"] in ("tracking", "lost")
        assert r["timings"]["total"] > 0 and r["update_error"] is None
    assert iou(r["box"], gt) > 0.5
    assert r["updates_done"] >= 2  # init + regular updates every 3 frames


@pytest.mark.parametrize("box,msg", [((10, 10, 0, 5), "width and height"), ((10, 10, 5, -1), "width and height"),
                                     ((np.nan, 10, 5, 5), "NaN"), ((10, 10, np.inf, 5), "NaN"),
                                     ((500, 500, 10, 10), "outside"), ((1, 2, 3), "4 values")])
def test_bad_boxes(tracker, box, msg):
    with pytest.raises(ValueError, match=msg):
        tracker.initialize(np.zeros((100, 100, 3), np.uint8), box)


def test_bad_images_and_order():
    t = RMANTracker(small_cfg())
    with pytest.raises(ValueError, match="before initialize"):
        t.track(np.zeros((50, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        t.initialize(np.zeros((50, 50, 3), np.float32), (1, 1, 10, 10))
    with pytest.raises(ValueError, match="empty"):
        t.initialize(np.zeros((0, 50, 3), np.uint8), (1, 1, 10, 10))
    with pytest.raises(ValueError, match="channels"):
        t.initialize(np.zeros((50, 50, 2), np.uint8), (1, 1, 10, 10))


def test_gray_rgba_partial_box_tiny_target_and_size_change(tracker):
    frames, boxes = synthetic(4)
    gray = frames[0][:, :, 0].copy()
    r = tracker.initialize(gray, (-10, -5, 30, 30))  # partly outside: clipped
    assert r["box"][0] == 0.0 and r["box"][1] == 0.0
    rgba = np.dstack([frames[1], np.full(frames[1].shape[:2], 255, np.uint8)])
    assert tracker.track(rgba)["state"] in ("tracking", "lost")
    tracker.initialize(frames[0], (50, 50, 6, 5))  # target under 10 px
    tracker.track(frames[1])
    r = tracker.track(cv2.resize(frames[2], (64, 48)))  # frame size changes mid-sequence
    x, y, w, h = r["box"]
    assert 0 <= x + w / 2 <= 64 and 0 <= y + h / 2 <= 48


def test_sync_mode_is_deterministic():
    frames, boxes = synthetic(6)
    runs = []
    for _ in range(2):
        t = RMANTracker(small_cfg(seed=3))
        t.initialize(frames[0], boxes[0])
        runs.append([(t.track(f)["box"], t.updater.last_loss) for f in frames[1:]])
    assert runs[0] == runs[1]


def test_warm_up_leaves_no_trace_of_its_synthetic_target():
    """A tracker warmed up (as the node does on a GPU) tracks exactly as a fresh one: the warm-up's
    normalisation, projection, heads and pools are all gone."""
    frames, boxes = synthetic(6)
    runs = []
    for warm in (False, True):
        t = RMANTracker(small_cfg(seed=3))
        if warm:
            assert t.warm_up() > 0
            assert not t.initialized and t.features.proj is None
            with pytest.raises(ValueError, match="before initialize"):
                t.track(frames[1])
        t.initialize(frames[0], boxes[0])
        runs.append([(t.track(f)["box"], t.updater.last_loss) for f in frames[1:]])
    assert runs[0] == runs[1]


def test_async_mode_never_blocks_and_applies_updates():
    frames, boxes = synthetic(10)
    t = RMANTracker(small_cfg(update_mode="async", update_interval=2, update_iters=30))
    t.initialize(frames[0], boxes[0])
    t.updater.wait(60)  # the RMAN head's first-frame training, started in the background by initialize()
    front0 = t.updater.front
    times = []
    for f in frames[1:5]:
        r = t.track(f)
        times.append(r["timings"]["update"])
    assert max(times) < 0.05  # starting an update is immediate
    t.updater.wait(60)
    r = t.track(frames[5])
    assert r["update_error"] is None and r["updates_done"] >= 2
    assert t.updater.front is not front0  # the trained buffer was swapped in
    t.close()
    assert not any(th.name == "rman-update" and th.is_alive() for th in threading.enumerate())


def test_a_new_init_does_not_wait_for_the_previous_tracks_update(monkeypatch):
    """Re-initialising while the old track's background update trains: initialize() returns without waiting
    for it, and the new track trains and tracks normally once it is done."""
    from rman_ros.core import updater as upd
    frames, boxes = synthetic(6)
    t = RMANTracker(small_cfg(update_mode="async", update_interval=1, success_threshold=0.0))
    t.initialize(frames[0], boxes[0])
    t.updater.wait(60)
    release, real = threading.Event(), upd.train_head

    def held(*a, **k):  # background trainings wait for the test's signal
        if threading.current_thread().name == "rman-update":
            assert release.wait(60)
        return real(*a, **k)
    monkeypatch.setattr(upd, "train_head", held)
    t.track(frames[1])
    old = t.updater
    assert old.busy  # the old track's update is training
    t.initialize(frames[2], boxes[2])
    assert old.busy and t.updater is not old  # ... and initialize() did not wait for it
    release.set()
    old.wait(60)
    t.updater.wait(60)
    r = t.track(frames[3])
    assert r["update_error"] is None and r["updates_done"] >= 1
    t.close()


def _deferred_run(frames, boxes, interval, lag):
    t = RMANTracker(small_cfg(update_mode="deferred", update_interval=interval, update_lag=lag, seed=5,
                              success_threshold=0.0))
    t.initialize(frames[0], boxes[0])
    log = []  # (frame, box, updates_done, an update started in this frame)
    for f in frames[1:]:
        r = t.track(f)
        log.append((r["frame"], r["box"], r["updates_done"], t.updater._due == r["frame"] + lag))
    t.close()
    return log


@pytest.mark.parametrize("interval,lag,starts", [(3, 2, [3, 6, 9]),  # lag < N3: the paper's schedule
                                                 (2, 3, [3, 6, 9])])  # lag > N3: one in flight at a time
def test_deferred_mode_is_deterministic_and_applies_updates_at_their_due_frame(interval, lag, starts):
    """The RMAN head's first-frame training is the first deferred update (due at frame update_lag; the
    memory-free head tracks until then); a regular update waits until the one in flight has landed."""
    frames, boxes = synthetic(12)
    run1 = _deferred_run(frames, boxes, interval, lag)
    run2 = _deferred_run(frames, boxes, interval, lag)
    assert run1 == run2  # bit-identical boxes although the training runs on another thread
    assert [fr for fr, _, _, s in run1 if s] == starts
    done = {fr: n for fr, _, n, _ in run1}
    assert [done[fr] for fr in range(1, lag + 1)] == [0] * (lag - 1) + [1]  # the first-frame training
    for fr in starts:  # the update started at frame t is swapped in exactly at frame t + update_lag
        assert all(done[fr + i] == done[fr] for i in range(1, lag) if fr + i in done)
        if fr + lag in done:
            assert done[fr + lag] == done[fr] + 1
    assert done[11] == 1 + sum(fr + lag <= 11 for fr in starts)


def test_deferred_update_that_fails_keeps_the_weights(monkeypatch):
    from rman_ros.core import updater as upd
    frames, boxes = synthetic(7)
    t = RMANTracker(small_cfg(update_mode="deferred", update_interval=3, update_lag=2, success_threshold=0.0))
    t.initialize(frames[0], boxes[0])
    t.updater.wait(60)  # the first-frame training (applied at frame 2) runs before training breaks

    def broken(*a, **k):
        raise RuntimeError("training exploded")
    monkeypatch.setattr(upd, "train_head", broken)
    for f in frames[1:4]:
        t.track(f)
    front = t.updater.front
    t.track(frames[4])
    r = t.track(frames[5])  # due frame of the update started at frame 3
    assert "training exploded" in r["update_error"] and r["updates_done"] == 1
    assert t.updater.front is front and not t.updater.pending
    t.close()


def test_set_config_changes_runtime_fields_only():
    frames, boxes = synthetic(6)
    t = RMANTracker(small_cfg(update_interval=100))
    t.initialize(frames[0], boxes[0])
    assert t.track(frames[1])["updates_done"] == 1  # the first-frame training only
    t.set_config(t.cfg.replace(update_interval=1, n_candidates=16))
    assert t.updater.cfg is t.cfg and t.cfg.n_candidates == 16
    r = t.track(frames[2])
    assert r["updates_done"] == 2  # the new interval is used at once
    with pytest.raises(ValueError, match="K, lstm_hidden"):
        t.set_config(t.cfg.replace(K=3, lstm_hidden=32))
    assert t.cfg.K == 5 and t.cfg.update_interval == 1  # the refused change left the config as it was
    t.set_config({**t.cfg.to_dict(), "use_bbreg": False})
    assert t.track(frames[3])["state"] in ("tracking", "lost") and not t.cfg.use_bbreg


def test_scale_rate_zero_keeps_the_box_size():
    frames, boxes = synthetic(6)
    t = RMANTracker(small_cfg(scale_rate=0.0, success_threshold=0.0))
    t.initialize(frames[0], boxes[0])
    for f in frames[1:]:
        r = t.track(f)
        np.testing.assert_allclose(r["box"][2:], boxes[0][2:], rtol=1e-9)  # the size is frozen...
    assert r["box"][0] - boxes[0][0] > 5  # ...while the box still follows the moving square


def test_analysis_helpers(tracker):
    frames, boxes = synthetic(3)
    tracker.initialize(frames[0], boxes[0])
    b0 = np.array([boxes[0], boxes[0] + [60, 40, 0, 0]])
    hs = analysis.history_scores(tracker, frames[0], b0)
    np.testing.assert_allclose(hs["tracked"], hs["first"], atol=1e-6)  # the history is still the first target
    r = tracker.track(frames[1])
    b = np.array([boxes[2], boxes[2] + [60, 40, 0, 0]])
    hs = analysis.history_scores(tracker, frames[2], b)
    assert all(v.shape == (2,) and np.all((v >= 0) & (v <= 1)) for v in hs.values())
    assert r["state"] == "tracking"  # so frame 1's target joined the history, and the pairing now matters
    assert not np.allclose(hs["tracked"], hs["first"], atol=1e-6)
    assert hs["first"][0] > hs["first"][1]  # the target beats a box 60 px off it
    th = analysis.activation_weights(tracker, frames[2], b)
    assert th.shape == (2, tracker.cfg.K) and np.all(np.abs(th) <= 1 + 1e-5)
    feats = analysis.classifier_inputs(tracker, frames[2], b)
    assert feats.shape == (2, 2 * tracker.cfg.lstm_hidden)
    pcc = analysis.pcc_pairs(np.random.rand(4, 8), np.random.rand(3, 8))
    assert pcc["pos_pos"].shape == (6,) and pcc["pos_neg"].shape == (12,)
    sal = analysis.attention_map(tracker, frames[2], boxes[2])
    assert sal.shape == (107, 107) and np.isfinite(sal).all() and sal.max() > 0


def test_patch_mode_runs():
    frames, boxes = synthetic(3)
    t = RMANTracker(small_cfg(feature_mode="patch", n_candidates=16, n_init_samples=200, n_pos_init=50,
                              n_bbreg=20, n_pos_update=8, n_neg_update=8))
    t.initialize(frames[0], boxes[0])
    r = t.track(frames[1])
    assert iou(r["box"], boxes[1]) > 0.3


def test_real_sequence_default_config(arithmetic):
    frames, gt = load_seq("Crossing", 30)
    t = RMANTracker(RMANConfig(device="cpu"))
    t.initialize(frames[0], gt[0])
    ious = [iou(t.track(f)["box"], g) for f, g in zip(frames[1:], gt[1:])]
    assert np.mean(ious) > 0.5, np.mean(ious)


def test_real_grayscale_sequence():
    frames, gt = load_seq("Freeman1", 15)
    assert frames[0].ndim == 2
    t = RMANTracker(small_cfg())
    t.initialize(frames[0], gt[0])
    for f in frames[1:]:
        r = t.track(f)
    assert np.isfinite(r["box"]).all()


def zoomed(frame, box, rate, n):
    """n frames of a camera zooming by `rate` per frame about the centre of `box` (real pixels, smooth
    scale change), with the ground-truth boxes."""
    c = box[:2] + box[2:] / 2
    frames, boxes = [], []
    for t in range(n):
        s = np.array([rate ** t, rate ** t])
        m = np.array([[s[0], 0, c[0] * (1 - s[0])], [0, s[1], c[1] * (1 - s[1])]])
        frames.append(cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
        boxes.append(np.concatenate([c - box[2:] * s / 2, box[2:] * s]))
    return frames, np.array(boxes)


@pytest.mark.parametrize("rate", [1.02, 0.98])
def test_scale_filter_follows_a_zoom(rate):
    first, gt = load_seq("Crossing", 1)
    frames, boxes = zoomed(first[0], gt[0], rate, 31)  # 30 frames: 1.81x in, 0.55x out
    t = RMANTracker(RMANConfig(device="cpu", scale_filter=True))
    t.initialize(frames[0], boxes[0])
    for f in frames[1:]:
        r = t.track(f)
    size = np.sqrt(r["box"][2] * r["box"][3] / np.prod(boxes[-1][2:]))
    assert abs(np.log(size)) < np.log(1.1), size
    assert iou(r["box"], boxes[-1]) > 0.7


def test_scale_filter_keeps_the_box_size_on_bolt2(arithmetic):
    """Bolt2's target keeps its size; with first-frame box regression alone the box grows to about twice
    it."""
    frames, gt = load_seq("Bolt2", 100)
    t = RMANTracker(RMANConfig(device="cpu", scale_filter=True))
    t.initialize(frames[0], gt[0])
    ratio = [np.sqrt(np.prod(t.track(f)["box"][2:]) / np.prod(g[2:])) for f, g in zip(frames[1:], gt[1:])]
    assert 0.75 < np.median(ratio[50:]) < 1.3, np.median(ratio[50:])


def test_a_memory_free_head_keeps_football1_confident(arithmetic):
    """With the paper's initialisation the first model scores the tracked histories low: on Football1 it
    reports `lost` on most of frames 1-20. Where its box goes meanwhile depends on the arithmetic (on the
    float32 path it can leave the player), so only its low confidence is asserted. The score fusion
    (w = 0.5 throughout) lets the memory-free head's confidence in and keeps the box on the player."""
    frames, gt = load_seq("Football1", 21)
    lost = {}
    for name, kw in (("paper", {"baseline_fusion": 0.0}),
                     ("fusion", {"baseline_fusion": 0.5})):
        t = RMANTracker(RMANConfig(device="cpu", **kw))
        t.initialize(frames[0], gt[0])
        rs = [t.track(f) for f in frames[1:]]
        t.close()
        lost[name] = sum(r["state"] == "lost" for r in rs)
        if name != "paper":
            worst = min(iou(r["box"], g) for r, g in zip(rs, gt[1:]))
            assert worst > 0.5, (name, worst)
        assert rs[-1]["updates_done"] >= 1
    assert lost["paper"] >= 8 and lost["fusion"] <= 4, lost


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_baseline_fusion_mixes_the_two_heads_scores(mode):
    """baseline_fusion w: every candidate scores (1 - w) p_RMAN + w p_Baseline, and the memory-free head is
    trained at the same updates as the RMAN head."""
    frames, boxes = synthetic(10)
    t = RMANTracker(small_cfg(baseline_fusion=0.25, update_mode=mode, success_threshold=0.0))
    t.initialize(frames[0], boxes[0])
    t.updater.wait(60)  # async: the RMAN head's first-frame training runs in the background
    assert t.aux is not None and t.aux.updates_done == t.updater.updates_done == 1
    for f in frames[1:]:
        r = t.track(f)
        assert r["update_error"] is None
    t.updater.wait(60)
    t.aux.wait(60)
    if mode == "sync":  # (async: either head may refuse a request while its last training still runs)
        assert t.aux.updates_done == t.updater.updates_done
    assert min(t.aux.updates_done, t.updater.updates_done) >= 3
    ff = t.features.frame(frames[-1], t.box, t.cfg.region_px)
    hist = t._history()
    cands, feats, scores, _ = t._detect(ff, hist, t.updater.front)
    with torch.no_grad():
        p_rman = t.updater.front.score(hist, feats).numpy()
        p_base = t.aux.front.score(hist, feats).numpy()
    np.testing.assert_allclose(scores, 0.75 * p_rman + 0.25 * p_base, atol=1e-6)
    assert np.abs(scores - p_rman).max() > 1e-3  # two different heads: the mix is not the RMAN score alone
    t.close()


def test_baseline_fusion_off_or_without_a_memory_has_no_second_head():
    frames, boxes = synthetic(3)
    for kw in ({"baseline_fusion": 0.0}, {"baseline_fusion": 0.5, "use_lstm": False, "aggregation": "none",
                                          "use_la": False, "use_lb": False}):
        t = RMANTracker(small_cfg(**kw))
        t.initialize(frames[0], boxes[0])
        t.track(frames[1])
        assert t.aux is None, kw


def test_the_box_core_keeps_singer2_where_context_loses_it(arithmetic):
    """Singer2's first box holds the edge of the video wall behind the singer. Read with context (roi_scale
    1.25) the model follows the wall and leaves her by frame 40; read as the box's core (roi_scale 0.8, the
    default) it keeps her (checked on seeds 0-2 at 1 and 2 threads: IoU 0.68-0.75 over frames 30-39 against
    0.00)."""
    frames, gt = load_seq("Singer2", 40)
    last = {}
    for rs in (0.8, 1.25):
        t = RMANTracker(RMANConfig(device="cpu", roi_scale=rs))
        t.initialize(frames[0], gt[0])
        ious = [iou(t.track(f)["box"], g) for f, g in zip(frames[1:], gt[1:])]
        t.close()
        last[rs] = float(np.mean(ious[-10:]))
    assert RMANConfig().roi_scale == 0.8
    assert last[0.8] > 0.5 and last[1.25] < 0.3, last


def test_a_fully_occluded_target_is_held_where_it_was_last_seen(arithmetic):
    """Bird1 flies into a cloud: around frames 145-158 the search region is a flat pink (grey-level spread
    about one of 255), and whatever the candidates score the tracker holds its box there; to about frame 181
    the bird stays hidden behind the cloud's textured edge, where every candidate scores near 0.05.
    Following the top candidates of that flat score map (py-MDNet, follow_min_score 0) is a random walk that
    carries the box away from where the bird comes out; with the default the box stays near where the bird
    was last seen, and the bird is found again there."""
    frames, gt = load_seq("Bird1", 200)  # frames[i] and gt[i] are frame i + 1
    start = 100  # initialise on frame 100: the bird in front of the cloud; track frames 101..200
    row = lambda frame: frame - start - 1  # result row of a frame
    boxes = {}
    for fms in (RMANConfig().follow_min_score, 0.0):
        t = RMANTracker(RMANConfig(device="cpu", follow_min_score=fms))
        t.initialize(frames[start - 1], gt[start - 1])
        res = [t.track(f) for f in frames[start:200]]
        t.close()
        boxes[fms] = np.array([r["box"] for r in res])
        cloud = res[row(145):row(158) + 1]
        assert [r["state"] for r in cloud] == ["lost"] * 14, fms  # frames 145-158: nothing to see
        # a featureless search region (under one grey level) never moves the box; which frames of the cloud
        # are that flat depends on where the search region lies, so the frames are taken from the results
        flat = [i for i, r in enumerate(res) if r["featureless"]]
        assert len([i for i in flat if row(145) <= i <= row(158)]) >= 3, (fms, flat)
        assert all(np.array_equal(boxes[fms][i], boxes[fms][i - 1]) for i in flat if i > 0), fms
    held, walked = boxes[RMANConfig().follow_min_score], boxes[0.0]
    assert RMANConfig().follow_min_score > 0
    moved = lambda b: float(np.abs(b[row(145):row(180) + 1, :2] - b[row(145), :2]).max())
    assert moved(held) < 50.0 and moved(walked) > moved(held) + 20.0, (moved(held), moved(walked))
    found = [iou(b, g) for b, g in zip(held[row(190):], gt[189:200])]  # frames 190-200
    assert len(found) == 11 and np.mean(found) > 0.3, found


def test_a_blacked_out_camera_loses_nothing(arithmetic):
    """Ten black frames in the middle of Crossing (a camera or transport dropout): the tracker reports lost
    and holds the box, and finds the walker again on the first good frame, with the updates in the frame's
    thread (sync) or beside it (async, the node's mode)."""
    frames, gt = load_seq("Crossing", 70)
    black = range(50, 60)
    for mode in ("sync", "async"):
        t = RMANTracker(RMANConfig(device="cpu", update_mode=mode))
        t.initialize(frames[0], gt[0])
        res = [t.track(np.zeros_like(f) if i in black else f) for i, f in enumerate(frames[1:], start=1)]
        t.close()
        dark = res[black.start - 1:black.stop - 1]
        assert all(r["state"] == "lost" and r["box"] == dark[0]["box"] for r in dark), mode
        back = [iou(r["box"], g) for r, g in zip(res[black.stop - 1:], gt[black.stop:])]
        assert min(back[:3]) > 0.5 and np.mean(back) > 0.6, (mode, back)
        assert res[black.stop - 1]["state"] == "tracking" or res[black.stop]["state"] == "tracking", mode


def test_a_score_well_below_the_recent_ones_is_doubtful_until_the_drop_lasts():
    from collections import deque

    from rman_ros.core.tracker import DOUBT_WINDOW, is_doubtful

    recent = deque(maxlen=DOUBT_WINDOW)
    assert not any(is_doubtful(0.9, recent, 0.8) for _ in range(10))
    assert is_doubtful(0.6, recent, 0.8)  # under 0.8 x the median 0.9
    assert not is_doubtful(0.75, recent, 0.8)
    # the target's look changes for good: once its lower scores are most of the window, they are the bar
    flags = [is_doubtful(0.6, recent, 0.8) for _ in range(DOUBT_WINDOW)]
    assert flags[0] and not flags[-1] and flags.index(False) <= DOUBT_WINDOW // 2
    assert not is_doubtful(0.1, deque([0.9] * 4), 0.8)  # fewer than 5 scores: no judgement yet
    off = deque([0.9] * 10)
    assert not is_doubtful(0.1, off, 0.0) and len(off) == 10  # doubt_ratio 0: off, nothing recorded


def test_with_doubt_ratio_a_passer_by_does_not_take_the_box(arithmetic, tmp_path):
    """A crossing clip (rman_ros.bench.crossing): the first 100 frames of Jogging2 with a walker cut from
    Couple crossing the jogger from the left, in front of her, and walking on to the right. While the walker
    covers her the scores drop below 0.8 of the track's recent median: with doubt_ratio 0.8 those frames count
    as lost, the box stays where she was, and she is found again there once the walker has passed. (Without
    it the box leaves with the walker on most seeds; with it, it stays on all those measured.)"""
    from rman_ros.bench import crossing as X
    from rman_ros.bench import datasets as D

    if not OTB.is_dir():
        pytest.skip(f"OTB data not found at {OTB} (set RMAN_DATA_DIR)")
    c = next(c for c in X.load_crossings() if c.name == "Jogging2_x_Couple_R")
    clip = D.load_sequence(X.build_clip(c, {s.name: s for s in D.discover(DATA)}, tmp_path))
    timing = X.Timing()
    frames = [cv2.imread(str(f))[:, :, ::-1].copy() for f in clip.frames]
    t = RMANTracker(RMANConfig(device="cpu", doubt_ratio=0.8))
    t.initialize(frames[0], clip.gt[0])
    res = [t.track(f) for f in frames[1:]]
    t.close()
    boxes = np.array([clip.gt[0]] + [r["box"] for r in res])
    crossing = res[timing.pre - 1:timing.pre + timing.cross - 1]
    assert any(r["state"] == "lost" for r in crossing)  # doubtful while the walker covers her
    assert sum(r["state"] == "lost" for r in res[:timing.pre - 1]) <= 2  # before that, hardly ever
    after = X.clip_scores(boxes, clip.gt, np.loadtxt(clip.path / X.DISTRACTOR_FILE, delimiter=","), timing)
    assert after["on_target"] >= 0.8 and after["on_distractor"] <= 0.1, after


def test_with_background_updates_the_first_box_does_not_wait_for_the_rman_head(arithmetic):
    """Updates beside the frames (the node's modes): initialize() trains the memory-free fusion head for
    first_box_iters iterations, starts the RMAN head's first-frame training and the rest of the memory-free
    head's as background updates and returns; the memory-free head tracks alone until they land (deferred:
    exactly at frame update_lag), then the two scores are fused as usual. On Crossing the walker is tracked
    throughout, and a deferred run repeats box for box."""
    frames, gt = load_seq("Crossing", 30)
    lag = 10
    runs = []
    for _ in range(2):
        t = RMANTracker(RMANConfig(device="cpu", update_mode="deferred", update_lag=lag))
        assert t.cfg.first_box_iters < t.cfg.init_iters
        first = t.initialize(frames[0], gt[0])
        assert first["updates_done"] == 0 and t.updater.pending and t.aux.updates_done == 1 and t.aux.pending
        before = copy.deepcopy(t.aux.front.state_dict())
        res = [t.track(f) for f in frames[1:lag + 1]]
        assert t.aux.updates_done == 2  # its remaining first-frame iterations landed with the RMAN head's
        assert any(not torch.equal(v, t.aux.front.state_dict()[k]) for k, v in before.items())
        res += [t.track(f) for f in frames[lag + 1:]]
        t.close()
        assert [r["updates_done"] for r in res[:lag]] == [0] * (lag - 1) + [1]
        assert min(iou(r["box"], g) for r, g in zip(res, gt[1:])) > 0.5
        runs.append([r["box"] for r in res])
    assert runs[0] == runs[1]
    # first_box_iters >= init_iters: the memory-free head is fully trained before the first box
    t = RMANTracker(RMANConfig(device="cpu", update_mode="deferred", first_box_iters=50, init_iters=50))
    t.initialize(frames[0], gt[0])
    assert t.aux.updates_done == 1 and not t.aux.pending and t.updater.pending
    t.close()
    # sync mode (the benchmark's) trains both heads inside initialize(), as before
    t = RMANTracker(RMANConfig(device="cpu", update_mode="sync"))
    assert t.initialize(frames[0], gt[0])["updates_done"] == 1 and not t.updater.busy and not t.aux.pending
    t.close()
