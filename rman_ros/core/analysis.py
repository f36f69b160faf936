"""Data for the paper's visualisations (Sec. III-C); plotting lives in the benchmark.

* activation_weights: theta over the K history patches for candidate boxes (Fig. 3)
* attention_map: |d p(target) / d input patch| saliency (Fig. 4)
* classifier_inputs / pcc_pairs: h* features and Pearson correlations of sample pairs (Fig. 5)
* history_scores: how a box's score depends on the history it is paired with (not in the paper)
* history_similarity: how much each history patch looks like the first frame's target (not in the paper)
All functions use an initialised RMANTracker and do not change its state.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from .image_utils import crop_patches, image_to_tensor, to_rgb
from .roi_align import roi_align_same_box


def _frame(tracker, image, region_px=None):
    if not tracker.initialized:
        raise ValueError("tracker is not initialised")
    img = to_rgb(image)
    return tracker.features.frame(img, tracker.box, region_px or tracker.cfg.region_px)


@torch.no_grad()
def box_features(tracker, image, boxes) -> torch.Tensor:
    """(N, D) classifier-input features of boxes (N, 4) of `image`, as the tracker reads them."""
    return _frame(tracker, image)(np.asarray(boxes, dtype=np.float64))


def history_with(tracker, j: int, feat: torch.Tensor) -> torch.Tensor:
    """A copy of the tracker's history (K, D) whose patch j (0 = T-K) is replaced by the features `feat`."""
    hist = tracker._history().clone()
    hist[j] = feat
    return hist


def head_outputs(tracker, image, boxes, history=None) -> Dict[str, np.ndarray]:
    """Head outputs for boxes (N, 4) of `image` with the tracker's current history, or with `history`
    ((K, D) features, e.g. from history_with)."""
    return head_outputs_of(tracker, box_features(tracker, image, boxes), history)


@torch.no_grad()
def head_outputs_of(tracker, feats: torch.Tensor, history=None) -> Dict[str, np.ndarray]:
    """head_outputs for features already read (box_features), so that one frame pass serves several calls."""
    hist = (tracker._history() if history is None else history)[None]
    idx = torch.zeros(feats.shape[0], dtype=torch.long, device=feats.device)
    out = tracker.head(hist, idx, feats)
    res = {"score": torch.softmax(out["logits"], 1)[:, 1].cpu().numpy(),
           "h_star": out["h_star"].cpu().numpy(), "h_t": out["h_t"].cpu().numpy()}
    if out["theta"] is not None:
        res["theta"] = out["theta"].cpu().numpy()
    return res


def activation_weights(tracker, image, boxes, history=None) -> np.ndarray:
    """Fig. 3: (N, K) cosine activation weights theta_{T-i} (Eq. 1), columns ordered T-K..T-1; `history` as
    in head_outputs."""
    return activation_weights_of(tracker, box_features(tracker, image, boxes), history)


def activation_weights_of(tracker, feats: torch.Tensor, history=None) -> np.ndarray:
    """activation_weights for features already read (box_features)."""
    out = head_outputs_of(tracker, feats, history)
    if "theta" not in out:
        raise ValueError("activation weights need aggregation='mal'")
    return out["theta"]


def classifier_inputs(tracker, image, boxes) -> np.ndarray:
    """Fig. 5: classifier-input features h* (N, 1024 for the full model)."""
    return head_outputs(tracker, image, boxes)["h_star"]


def pcc_pairs(pos: np.ndarray, neg: np.ndarray) -> Dict[str, np.ndarray]:
    """Pearson correlation of all positive-positive pairs and all positive-negative pairs (Fig. 5)."""
    def z(a):
        a = a - a.mean(1, keepdims=True)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    zp, zn = z(np.asarray(pos, np.float64)), z(np.asarray(neg, np.float64))
    pp = zp @ zp.T
    iu = np.triu_indices(len(zp), 1)
    return {"pos_pos": pp[iu], "pos_neg": (zp @ zn.T).reshape(-1)}


def attention_map(tracker, image, box, patch_size: int = 107) -> np.ndarray:
    """Fig. 4: saliency |d p(target)/d patch| (max over RGB) at patch resolution (patch_size x patch_size).

    The box is cropped MDNet-style (16 px context at 107) and goes through the exact per-patch path."""
    if not tracker.initialized:
        raise ValueError("tracker is not initialised")
    ex = tracker.features
    img_t = image_to_tensor(to_rgb(image), ex.device)
    ctx = patch_size / (patch_size - 32.0)
    patch = crop_patches(img_t, np.asarray(box, np.float64).reshape(1, 4), patch_size, ctx)
    patch = patch.detach().requires_grad_(True)
    fmap = ex.net(patch)
    p = float(patch_size)
    inner = torch.tensor([[16.0, 16.0, p - 16.0, p - 16.0]])
    feat = roi_align_same_box(fmap, inner, ex.stride, tracker.cfg.roi_size, tracker.cfg.roi_samples, ex.offset)
    if ex.mean is not None:
        feat = (feat - ex.mean[None, :, None, None]) / ex.std[None, :, None, None]
    hist = tracker._history()
    score = tracker.head.score(hist, ex.project(feat.flatten(1)))[0]
    (grad,) = torch.autograd.grad(score, patch)
    return grad[0].abs().amax(0).cpu().numpy()


@torch.no_grad()
def history_scores(tracker, image, boxes) -> Dict[str, np.ndarray]:
    """Scores of boxes (N, 4) of `image` paired with three histories: `tracked` (the tracker's current
    K patches), `first` (the first-frame target repeated K times, the history of the first-frame
    training) and `own` (each box's own features repeated K times). With a memory that generalises,
    `tracked` and `own` score a true target as high as `first` does."""
    ff = _frame(tracker, image)
    feats = ff(np.asarray(boxes, dtype=np.float64))
    k = tracker.cfg.K
    head = tracker.head
    first = tracker.pools.first.hist  # the frame-0 record keeps the first-frame history
    own = head(feats[:, None].expand(-1, k, -1), torch.arange(feats.shape[0], device=feats.device), feats)
    return {"tracked": head.score(tracker._history(), feats).cpu().numpy(),
            "first": head.score(first, feats).cpu().numpy(),
            "own": torch.softmax(own["logits"], 1)[:, 1].cpu().numpy()}


@torch.no_grad()
def history_similarity(tracker) -> np.ndarray:
    """(K,) cosine similarity of each history patch's features (T-K..T-1) to the first frame's target: low
    where a tracked patch shows an occluder or background instead of the target."""
    if not tracker.initialized:
        raise ValueError("tracker is not initialised")
    first = tracker.pools.first.hist[-1]  # the frame-0 record's history is the first target repeated
    return torch.nn.functional.cosine_similarity(tracker._history(), first[None], dim=1).cpu().numpy()
