"""Per-frame feature extraction: one search-region backbone pass + RoIAlign (default), or the exact
per-patch mode (every box cropped to patch_size and run through the CNN)."""

from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np
import torch

from .backbone import build_backbone, cache_lowp_weights
from .image_utils import crop_patches, crop_region, gray01, image_to_tensor, region_geometry
from .roi_align import roi_align, roi_align_same_box
from .runtime import cpu_has_bf16, host_to_device


def top_eigenpairs(xc: torch.Tensor, k: int, oversample: int = 32, iters: int = 4, rows: int = 2048):
    """The k leading eigenpairs (descending) of the covariance of centred rows xc (N, D), by subspace
    iteration from a fixed random start (Halko et al. 2011) instead of forming the D x D covariance and
    a full eigh. The iterations use an evenly strided subset of `rows` rows; the final Rayleigh-Ritz
    step uses all of them."""
    n, d = xc.shape
    m = min(d, k + oversample)
    g = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn((d, m), generator=g, dtype=xc.dtype).to(xc.device)
    sub = xc[:: max(1, n // rows)]
    for _ in range(iters):  # cov @ q as two thin products
        q, _ = torch.linalg.qr(sub.T @ (sub @ q))
    small = xc @ q
    evals, u = torch.linalg.eigh(small.T @ small / max(n - 1, 1))  # Rayleigh-Ritz on the subspace
    return evals[-k:].flip(0), (q @ u)[:, -k:].flip(1)


def scaled_boxes(boxes: np.ndarray, factor: float) -> np.ndarray:
    """(x, y, w, h) boxes scaled `factor` times about their centres."""
    b = np.atleast_2d(boxes).astype(np.float64)
    wh = b[:, 2:] * factor
    return np.concatenate([b[:, :2] + b[:, 2:] / 2 - wh / 2, wh], 1)


class FrameFeatures:
    """Features of one frame. `boxes` are (x, y, w, h) image pixels; returns (N, D) float32."""

    def __init__(self, extractor: "FeatureExtractor", image: np.ndarray, fmap: Optional[torch.Tensor],
                 origin: np.ndarray, scale: float, region_px: int):
        self.ex = extractor
        self.image = image
        self.fmap = fmap
        self.origin = origin
        self.scale = scale
        self.region_px = region_px
        self.gray: Optional[np.ndarray] = None  # float32 grayscale of `image`, made on first use

    def region_bounds(self):
        """Image-coordinate extent of the search region (x0, y0, x1, y1), clipped to the image."""
        side = self.region_px / self.scale
        h, w = self.image.shape[:2]
        x0, y0 = max(self.origin[0], 0.0), max(self.origin[1], 0.0)
        return x0, y0, min(self.origin[0] + side, float(w)), min(self.origin[1] + side, float(h))

    def grayscale(self) -> np.ndarray:
        """float32 grayscale of the frame in [0, 1] (made once, shared by the contrast check and the scale
        filter)."""
        if self.gray is None:
            self.gray = gray01(self.image)
        return self.gray

    def region_contrast(self) -> float:
        """Standard deviation of the grayscale search region (intensity in [0, 1], every second pixel)."""
        x0, y0, x1, y1 = (int(round(v)) for v in self.region_bounds())
        region = self.grayscale()[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
        return float(region[::2, ::2].std())

    def __call__(self, boxes: np.ndarray) -> torch.Tensor:
        """The classifier's features of `boxes`: RoIs scaled roi_scale times about the box centres."""
        s = self.ex.cfg.roi_scale
        return self.ex.box_features(self, np.atleast_2d(boxes) if s == 1.0 else scaled_boxes(boxes, s))


class FeatureExtractor:
    def __init__(self, cfg, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.use_bf16 = bool(cfg.bf16) and (device.type == "cuda" or cpu_has_bf16())
        self.net = build_backbone(cfg.backbone, cfg.stride, cfg.backbone_weights, cfg.multi_level,
                                  fold_bn=not self.use_bf16).to(device)
        if self.use_bf16:
            cache_lowp_weights(self.net, torch.bfloat16)
        self.stride = float(self.net.stride)
        self.offset = float(self.net.offset)
        self.channels = int(self.net.out_channels)
        self.dim = self.channels * cfg.roi_size ** 2
        self.channels_last = bool(cfg.channels_last)
        self.ort = self._ort_backbone(cfg)  # ONNX Runtime for the region pass, or None (torch)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.mean: Optional[torch.Tensor] = None  # (C,) channel statistics of the first frame
        self.std: Optional[torch.Tensor] = None
        self.proj: Optional[torch.Tensor] = None  # (C*r*r, feature_dim) PCA basis from the first frame
        self.proj_mean: Optional[torch.Tensor] = None
        self._fused: Optional[tuple] = None  # (key tensors, weight, bias) of _fused_projection()
        if cfg.feature_dim > 0 and cfg.feature_dim < self.dim:
            self.dim = cfg.feature_dim

    def fit_projection(self, feats: torch.Tensor) -> torch.Tensor:
        """Channel reduction: PCA of the first frame's raw RoI features (fixed afterwards, like the CNN).
        Returns the projected `feats`; a no-op when feature_dim is 0 or not smaller than the raw size."""
        k = self.cfg.feature_dim
        if k <= 0 or k >= feats.shape[1]:
            return feats
        x = feats.float()
        mean = x.mean(0, keepdim=True)
        evals, basis = top_eigenpairs(x - mean, k)
        # deterministic sign: largest-magnitude entry of each basis vector positive
        sign = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
        basis = basis * sign
        scale = evals.sum().sqrt() / (k ** 0.5)  # keep unit average variance per dim
        self.proj = (basis / scale).float().to(feats.device)
        self.proj_mean = mean.float().to(feats.device)
        return self.project(feats)

    def project(self, feats: torch.Tensor) -> torch.Tensor:
        if self.proj is None:
            return feats
        return (feats - self.proj_mean) @ self.proj

    def _fused_projection(self):
        """Standardisation and projection as one affine map of the raw flattened RoI features, recomputed
        when any of its parts is replaced: ((x - m) / s - mu) P = x (P / s) - (m / s + mu) P, with the
        channel statistics repeated over the roi_size^2 bins of each channel (C-major order)."""
        key = (self.proj, self.proj_mean, self.mean, self.std)
        if self._fused is None or any(a is not b for a, b in zip(self._fused[0], key)):
            p, r = self.proj, self.cfg.roi_size ** 2
            inv = torch.ones(p.shape[0], device=p.device)
            shift = torch.zeros(p.shape[0], device=p.device)
            if self.mean is not None:
                inv = (1.0 / self.std).repeat_interleave(r)
                shift = (self.mean / self.std).repeat_interleave(r)
            bias = -((shift[None] + self.proj_mean) @ p)[0]
            self._fused = (key, p * inv[:, None], bias)
        return self._fused[1], self._fused[2]

    def _autocast(self):
        if self.use_bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _ort_backbone(self, cfg):
        """The ONNX Runtime runner of the backbone when backbone_runtime asks for it and it applies: a CPU
        without bf16 (there torch runs the float32 network whose BatchNorm is folded) and one region per
        frame (feature_mode roi). ValueError when onnxruntime is asked for explicitly but not installed."""
        if cfg.backbone_runtime == "torch" or self.device.type != "cpu" or self.use_bf16 \
                or cfg.feature_mode != "roi":
            return None
        from . import backbone_ort

        if not backbone_ort.available():
            if cfg.backbone_runtime == "auto":
                return None
            raise ValueError("backbone_runtime=onnxruntime needs the onnxruntime and onnx packages "
                             "(pip install onnxruntime onnx), or backbone_runtime: torch")
        return backbone_ort.OrtBackbone(self.net)

    @torch.no_grad()
    def run_cnn(self, x: torch.Tensor) -> torch.Tensor:
        if self.ort is not None and x.shape[0] == 1:
            y = self.ort(x)
            return y.contiguous(memory_format=torch.channels_last) if self.channels_last else y
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = self.net(x)
        # channels_last stays: RoIAlign then reads the map as an (H*W, C) table without a copy
        return y.float() if self.channels_last else y.float().contiguous()

    def frame(self, image: np.ndarray, box: np.ndarray, region_px: int) -> FrameFeatures:
        origin, scale = region_geometry(box, self.cfg.target_px, region_px)
        fmap = None
        if self.cfg.feature_mode == "roi":
            crop = crop_region(image, origin, scale, region_px)
            fmap = self.run_cnn(image_to_tensor(crop, self.device))
        return FrameFeatures(self, image, fmap, origin, scale, region_px)

    def set_normalisation(self, ff: FrameFeatures, box: np.ndarray) -> None:
        """Channel mean/std from the first frame (roi mode: its map; patch mode: patches near the target)."""
        if not self.cfg.feature_norm:
            return
        if ff.fmap is not None:
            f = ff.fmap[0].flatten(1)
        else:
            f = self._patch_maps(ff, np.atleast_2d(box)).transpose(0, 1).flatten(1)
        self.mean = f.mean(1)
        self.std = f.std(1).clamp_min(1e-3)

    def _patch_maps(self, ff: FrameFeatures, boxes: np.ndarray) -> torch.Tensor:
        img_t = image_to_tensor(ff.image, self.device)
        ctx = self.cfg.patch_size / (self.cfg.patch_size - 32.0)  # MDNet: 16 px of context per side
        outs = []
        for i in range(0, len(boxes), 256):
            patches = crop_patches(img_t, boxes[i:i + 256], self.cfg.patch_size, ctx)
            outs.append(self.run_cnn(patches))
        return torch.cat(outs)

    def box_features(self, ff: FrameFeatures, boxes: np.ndarray, project: bool = True) -> torch.Tensor:
        cfg = self.cfg
        if ff.fmap is not None:
            xy = (boxes[:, :2] - ff.origin[None]) * ff.scale
            wh = boxes[:, 2:] * ff.scale
            b = host_to_device(np.concatenate([xy, xy + wh], 1).astype(np.float32), self.device)
            out = roi_align(ff.fmap, b, self.stride, cfg.roi_size, cfg.roi_samples, self.offset)
        else:
            maps = self._patch_maps(ff, boxes)
            p = float(cfg.patch_size)
            inner = torch.tensor([[16.0, 16.0, p - 16.0, p - 16.0]])
            out = roi_align_same_box(maps, inner, self.stride, cfg.roi_size, cfg.roi_samples, self.offset)
        if project and self.proj is not None:  # standardise and project in one product
            w, b = self._fused_projection()
            return torch.addmm(b, out.flatten(1), w)
        if self.mean is not None:
            out = (out - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        return out.flatten(1)
