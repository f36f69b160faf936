"""RMANTracker: pytracking-style initialize(image, box) / track(image) API."""

from __future__ import annotations

import time
from collections import deque
from typing import Dict, Optional

import numpy as np
import torch

from .bbreg import BBoxRegressor
from .config import RMANConfig
from .features import FeatureExtractor, FrameFeatures
from .image_utils import check_box, clip_box_to_image, synthetic_pattern, to_rgb
from .model import RMANHead
from .pools import FrameSamples, SamplePools
from .runtime import cpu_has_bf16, host_to_device, resolve_device, select_matmul_backend, tune_glibc_malloc
from .sampling import draw, draw_labelled
from .scale_filter import ScaleFilter, damped_size, model_size, pixel_pyramid
from .updater import Updater
from .variants import ABLATIONS

# A search region whose grayscale standard deviation is below this (intensity in [0, 1]; one grey level of
# 255) holds nothing to track: a black frame from the camera, or an occluder that fills the region (Bird1's
# cloud). A small, faint target on a plain background (a bird entering the cloud: 2-4 grey levels) stays
# above it, and a textured scene, even a dark one, lies far above it. Such a frame is scored as usual
# (failure updates keep their schedule) but counts as lost and never moves the box: every candidate of a
# flat region scores alike, and following the top candidates of that flat map is a random walk whose length
# depends on the classifier's calibration, which carried the box away from where the target reappears.
FEATURELESS_CONTRAST = 1.0 / 255.0

# doubt_ratio compares a frame's score with the median of this many recent found frames' scores
DOUBT_WINDOW = 50


def is_doubtful(score: float, recent: deque, ratio: float) -> bool:
    """Whether a found target's `score` is doubtful: below `ratio` times the median of `recent` (the last found
    frames' scores; at least 5 needed). `score` then joins `recent`, doubtful or not, so that a lasting change
    of the target's look lowers the bar within half the window instead of losing the target for good.
    Always False for ratio 0."""
    if ratio <= 0:
        return False
    doubt = len(recent) >= 5 and score < ratio * float(np.median(recent))
    recent.append(float(score))
    return doubt


class RMANTracker:
    def __init__(self, config: Optional[RMANConfig] = None, **overrides):
        cfg = config if config is not None else RMANConfig()
        if isinstance(cfg, dict):
            cfg = RMANConfig.from_dict(cfg)
        if overrides:
            cfg = cfg.replace(**overrides)
        self.cfg = cfg
        if cfg.tune_malloc:
            tune_glibc_malloc()
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        self._device = resolve_device(cfg.device)
        self.matmul_backend = select_matmul_backend(cfg.matmul_backend) if self._device.type == "cpu" else "cuda"
        self.features = FeatureExtractor(cfg, self._device)
        self.updater: Optional[Updater] = None
        self.aux: Optional[Updater] = None  # score fusion: the memory-free head scored beside the RMAN head
        self.initialized = False

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def head(self) -> RMANHead:
        if self.updater is None:
            raise ValueError("track() called before initialize()")
        return self.updater.front

    def set_config(self, config: RMANConfig) -> None:
        """Swap in a new config between frames. Only fields marked runtime may differ from the current
        config (the others shape the network, the features or the first-frame model); ValueError
        names any that do. Takes effect on the next track() call and the next update."""
        if isinstance(config, dict):
            config = RMANConfig.from_dict(config)
        if not isinstance(config, RMANConfig):
            raise ValueError(f"set_config expects an RMANConfig or a dict, got {type(config).__name__}")
        info = RMANConfig.field_info()
        old, new = self.cfg.to_dict(), config.to_dict()
        fixed = sorted(k for k in new if new[k] != old[k] and not info[k]["runtime"])
        if fixed:
            raise ValueError(f"not changeable after construction: {', '.join(fixed)} "
                             "(create a new tracker for these)")
        self.cfg = config
        if self.updater is not None:
            self.updater.cfg = config
        if self.aux is not None:
            self.aux.cfg = self._aux_cfg(config)
        if self.initialized and not self.lost:
            self.trans = config.trans

    # ------------------------------------------------------------------ helpers
    def _history(self) -> torch.Tensor:
        return torch.stack(list(self.hist))  # (K, D) ordered T-K..T-1

    def _collect(self, ff: FrameFeatures, box: np.ndarray, n_pos: int, n_neg: int, trans_neg: float,
                 scale_neg: float, whole_neg: bool):
        """Positive and negative samples around `box` (labels by IoU, Sec. tracking process), and the
        features of `box` itself."""
        c, rng = self.cfg, self.rng
        bounds = ff.region_bounds()
        pos = draw_labelled("gaussian", box, n_pos, c.trans_pos, c.scale_pos, rng, (c.tau1, 1.0),
                            min_side=c.min_box_px)
        if whole_neg:
            neg = np.concatenate([
                draw_labelled("uniform", box, n_neg // 2, trans_neg, scale_neg, rng, (0.0, c.tau2), bounds,
                              c.min_box_px),
                draw_labelled("whole", box, n_neg - n_neg // 2, 0.0, scale_neg, rng, (0.0, c.tau2), bounds,
                              c.min_box_px)])
        else:
            neg = draw_labelled("uniform", box, n_neg, trans_neg, scale_neg, rng, (0.0, c.tau2), bounds,
                                c.min_box_px)
        feats = ff(np.concatenate([pos, neg, np.atleast_2d(box)]))  # one RoIAlign pass for all of them
        return feats[: len(pos)], feats[len(pos):-1], feats[-1]

    def _scale_feats(self, ff: FrameFeatures, boxes: np.ndarray) -> np.ndarray:
        """Scale-pyramid features (S, D) of `boxes` for the scale filter: pixels, as DSST. (The RoI features of
        the frame map were tried: they are not scale-covariant, and the filter then holds the size.)"""
        return pixel_pyramid(ff.grayscale(), boxes, self._scale_model)

    def _size_feats(self, ff: FrameFeatures, box: np.ndarray, size: Optional[np.ndarray] = None) -> np.ndarray:
        """The scale filter's pyramid features around `box` at `size` (default the box's own)."""
        return self._scale_feats(ff, self.scale_filter.boxes(box, size))

    @staticmethod
    def _aux_cfg(c: RMANConfig) -> RMANConfig:
        """The score-fusion head's config: the Baseline variant's (no memory) with `c`'s other values."""
        return c.replace(**ABLATIONS["baseline"])

    def _new_head(self, c: Optional[RMANConfig] = None, seed_offset: int = 0) -> RMANHead:
        c = c if c is not None else self.cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed + seed_offset)
            head = RMANHead(self.features.dim, c.lstm_hidden, c.fc_hidden, c.use_lstm, c.aggregation, c.dropout)
        head.set_bf16_scoring(bool(c.bf16_scoring) and (self._device.type == "cuda" or cpu_has_bf16()))
        return head.to(self._device).eval()

    # ------------------------------------------------------------------ API
    # what initialize() replaces: a failed initialize() puts these back, so the previous track goes on
    _TRACK_STATE = ("rng", "hist", "scale_filter", "_scale_model", "bbreg", "updater", "aux", "pools",
                    "box", "frame_idx", "last_update_frame", "trans", "lost", "recent_scores", "initialized")
    _FEATURE_STATE = ("mean", "std", "proj", "proj_mean", "_fused")

    def initialize(self, image, box) -> Dict:
        """Start a new track on `image` at `box` (x, y, w, h; clipped to the image). The new model is built
        beside the current one and replaces it only when it is complete: when initialize() raises, the
        previous track (if any) is left exactly as it was and track() goes on with it. A background update of
        the previous track still running is not waited for: it lands in that track if the new one fails, and is
        dropped otherwise."""
        old = self._updaters()
        saved = ({k: self.__dict__[k] for k in self._TRACK_STATE if k in self.__dict__},
                 {k: getattr(self.features, k) for k in self._FEATURE_STATE})
        try:
            result = self._initialize(image, box)
        except BaseException:
            for u in self._updaters():
                if all(u is not o for o in old):
                    u.close()
            for k in self._TRACK_STATE:
                self.__dict__.pop(k, None)
            self.__dict__.update(saved[0])
            for k, v in saved[1].items():
                setattr(self.features, k, v)
            raise
        for u in old:
            u.abandon()
        return result

    def _updaters(self) -> list:
        return [u for u in (self.updater, self.aux) if u is not None]

    def _initialize(self, image, box) -> Dict:
        t0 = time.perf_counter()
        image = to_rgb(image)
        box = clip_box_to_image(check_box(box), image.shape[1], image.shape[0])
        c = self.cfg
        self.rng = np.random.default_rng(c.seed)
        ff = self.features.frame(image, box, c.region_px_init)
        self.features.set_normalisation(ff, box)
        t1 = time.perf_counter()
        self.features.proj = None
        pos, neg, target = self._collect(ff, box, c.n_pos_init, c.n_init_samples - c.n_pos_init,
                                         c.trans_neg_init, c.scale_neg_init, whole_neg=True)
        both = self.features.fit_projection(torch.cat([pos, neg]))
        pos, neg = both[: pos.shape[0]], both[pos.shape[0]:]
        target = self.features.project(target[None])[0]
        self.hist = deque([target] * c.K, maxlen=c.K)  # history filled with the first target
        self.scale_filter: Optional[ScaleFilter] = None
        if c.scale_filter:
            self.scale_filter = ScaleFilter(c.scale_filter_scales, c.scale_filter_step, c.scale_filter_lr)
            self._scale_model = model_size(box[2:])
            self.scale_filter.update(self._size_feats(ff, box))
        self.bbreg = BBoxRegressor(c.bbreg_alpha)
        if c.use_bbreg and c.n_bbreg > 0:
            bb = draw_labelled("uniform", box, c.n_bbreg, c.bbreg_trans, c.bbreg_scale, self.rng,
                               (c.bbreg_iou, 1.0), min_side=c.min_box_px, aspect=c.bbreg_aspect)
            self.bbreg.fit(ff(bb), bb, box)
        t2 = time.perf_counter()
        self.updater = Updater(self._new_head(), c, self.rng)
        hist = self._history()
        first = ([FrameSamples(0, hist, pos)], [FrameSamples(0, hist, neg)])
        fusion = c.baseline_fusion > 0 and (c.use_lstm or c.aggregation != "none")
        bc = self._aux_cfg(c)  # the score-fusion head: the Baseline variant's
        self.aux = Updater(self._new_head(bc, seed_offset=2), bc, self.rng) if fusion else None
        if self.aux is not None and c.update_mode != "sync":
            # updates beside the frames: the memory-free head (a few times cheaper to train) is trained now, for
            # first_box_iters of its iterations, and tracks alone until the RMAN head's first-frame training,
            # started here as a background update, lands (async: when done; deferred: at frame update_lag). The
            # memory-free head's remaining iterations continue its weights in a background update that lands
            # with it. The first box comes that much sooner.
            now = min(c.first_box_iters, c.init_iters)
            self.aux.update(*first, now, c.lr_init)
            self.updater.update(*first, c.init_iters, c.lr_init, c.update_mode, due=c.update_lag)
            if c.init_iters > now:
                self.aux.update(*first, c.init_iters - now, c.lr_init, c.update_mode, due=c.update_lag)
        else:
            self.updater.update(*first, c.init_iters, c.lr_init)
            if self.aux is not None:
                self.aux.update(*first, c.init_iters, c.lr_init)
        self.pools = SamplePools(c.pos_pool_frames, c.neg_pool_frames)
        keep = host_to_device(self.rng.permutation(neg.shape[0])[: c.n_neg_update], neg.device)
        self.pools.add(0, hist, pos[: c.n_pos_update * 2], neg[keep])
        self.box = box
        self.frame_idx = 0
        self.last_update_frame = 0
        self.trans = c.trans
        self.lost = False
        self.recent_scores = deque(maxlen=DOUBT_WINDOW)
        self.initialized = True
        t3 = time.perf_counter()
        timings = {"features": t1 - t0, "samples": t2 - t1, "train": t3 - t2, "total": t3 - t0}
        return self._result(box, 1.0, timings)

    def _result(self, box, score, timings, featureless: bool = False) -> Dict:
        u = self.updater
        return {"box": tuple(float(v) for v in box), "score": float(score),
                "state": "lost" if self.lost else "tracking", "timings": timings,
                "updates_done": u.updates_done, "last_update_s": u.last_update_s,
                "update_error": u.error, "frame": self.frame_idx, "featureless": bool(featureless)}

    @torch.no_grad()
    def _detect(self, ff: FrameFeatures, hist: torch.Tensor, head: Optional[RMANHead]):
        """Score N2 candidates around the box with `head`, fused with the memory-free head when score fusion
        is on; head None: the memory-free head alone (the RMAN head's first training has not landed)."""
        c = self.cfg
        h, w = ff.image.shape[:2]
        cands = draw("gaussian", self.box, c.n_candidates, self.trans, c.scale_step, self.rng,
                     bounds=(0.0, 0.0, float(w), float(h)), min_side=c.min_box_px)
        feats = ff(cands)
        if head is None:
            scores = self.aux.front.score(hist, feats)
        else:
            scores = head.score(hist, feats)
            if self.aux is not None:  # score fusion
                w = c.baseline_fusion
                scores = (1.0 - w) * scores + w * self.aux.front.score(hist, feats)
        k = min(c.top_k, len(cands))
        top = torch.topk(scores, k).indices.cpu().numpy()
        return cands, feats, scores.cpu().numpy(), top

    def track(self, image) -> Dict:
        if not self.initialized:
            raise ValueError("track() called before initialize()")
        t0 = time.perf_counter()
        image = to_rgb(image)
        c = self.cfg
        self.frame_idx += 1
        H, W = image.shape[:2]
        self.box = self._fit_into(self.box, W, H)
        ta = time.perf_counter()
        self.updater.apply_due(self.frame_idx)  # deferred mode: swap in the update due at this frame
        if self.aux is not None:
            self.aux.apply_due(self.frame_idx)
        t_apply = time.perf_counter() - ta  # waiting for it counts as update time
        ff = self.features.frame(image, self.box, c.region_px_lost if self.lost else c.region_px)
        t1 = time.perf_counter()
        featureless = ff.region_contrast() < FEATURELESS_CONTRAST  # never found, never followed
        # a local reference: an async swap cannot change it mid-frame. The update counter is read first: the
        # swap puts the trained head in front before it counts, so a count above 0 means `front` is trained
        trained = self.updater.updates_done > 0
        head = self.updater.front if trained else None
        hist = self._history()
        cands, feats, scores, top = self._detect(ff, hist, head)
        score = float(scores[top].mean())
        success = score >= c.success_threshold and not featureless
        doubtful = success and is_doubtful(score, self.recent_scores, c.doubt_ratio)
        success = success and not doubtful
        box = cands[top].mean(0)
        if success and c.use_bbreg:
            box = self.bbreg.predict(feats[top], cands[top]).mean(0)
        if success and self.scale_filter is not None:  # size from the scale pyramid at the refined centre
            size = self.box[2:] * self.scale_filter.detect(self._size_feats(ff, box, self.box[2:]))
            box = np.concatenate([box[:2] + box[2:] / 2 - size / 2, size])
        if success and c.scale_rate < 1.0:  # damped size update: geometric blend with the previous size
            size = damped_size(self.box[2:], box[2:], c.scale_rate)
            box = np.concatenate([box[:2] + (box[2:] - size) / 2, size])
        box = self._fit_into(box, W, H)
        t2 = time.perf_counter()
        self.lost = not success
        self.trans = c.trans if success else min(self.trans * c.trans_expand, c.trans_max)
        if success or (c.follow_when_lost and score >= c.follow_min_score and not featureless and not doubtful):
            self.box = box
        if success:
            pos, neg, target = self._collect(ff, box, c.n_pos_update, c.n_neg_update, c.trans_neg, c.scale_neg,
                                             False)
            self.pools.add(self.frame_idx, hist, pos, neg)
            self.hist.append(target)
            if self.scale_filter is not None:
                self.scale_filter.update(self._size_feats(ff, box))
        t3 = time.perf_counter()
        self._maybe_update(success)
        t4 = time.perf_counter()
        timings = {"features": t1 - t0 - t_apply, "detect": t2 - t1, "collect": t3 - t2,
                   "update": t4 - t3 + t_apply, "total": t4 - t0}
        return self._result(self.box, score, timings, featureless)

    def _maybe_update(self, success: bool) -> None:
        c = self.cfg
        since = self.frame_idx - self.last_update_frame
        if not success and since >= c.failure_update_gap:  # failure: short-term update early
            pos, neg = self.pools.snapshot(c.short_term_frames)
        elif success and since >= c.update_interval:  # regular long-term update every N3 frames
            pos, neg = self.pools.snapshot()
        else:
            return
        if self.updater.update(pos, neg, c.update_iters, c.lr_update * c.lr_update_factor, c.update_mode,
                               due=self.frame_idx + c.update_lag):
            self.last_update_frame = self.frame_idx
            if self.aux is not None:
                self.aux.update(pos, neg, c.update_iters, c.lr_update * c.lr_update_factor, c.update_mode,
                                due=self.frame_idx + c.update_lag)

    def _fit_into(self, box: np.ndarray, W: int, H: int) -> np.ndarray:
        """Keep the box size sane and its centre inside the image (handles frame-size changes)."""
        m = self.cfg.min_box_px
        w = float(np.clip(box[2], m, max(W, m)))
        h = float(np.clip(box[3], m, max(H, m)))
        cx = float(np.clip(box[0] + box[2] / 2, 0, W))
        cy = float(np.clip(box[1] + box[3] / 2, 0, H))
        return np.array([cx - w / 2, cy - h / 2, w, h])

    def warm_up(self, frames: int = 2) -> float:
        """Pay the device's first-use costs (on a GPU: context, cuBLAS/cuDNN handles, kernel loading) on a
        synthetic frame, so that the first real initialize() runs at full speed. Leaves the tracker
        uninitialised with nothing of the synthetic target kept: the next initialize() starts as on a
        fresh tracker. Returns the seconds it took."""
        t0 = time.perf_counter()
        image = synthetic_pattern()
        self.initialize(image, (120.0, 80.0, 60.0, 50.0))
        for _ in range(frames):
            self.track(image)
        self.close()
        self.features.mean = self.features.std = self.features.proj = self.features.proj_mean = None
        self.updater = self.aux = None
        self.initialized = False
        return time.perf_counter() - t0

    def close(self) -> None:
        if self.updater is not None:
            self.updater.close()
        if self.aux is not None:
            self.aux.close()
