"""RoIAlign with plain torch ops (no torchvision).

RoIAlign is linear in the feature map: each bin is the mean of samples x samples bilinear samples, i.e. a
weighted sum of at most (2*samples)^2 feature cells. The taps are separable (a row part times a column
part), so all bins of all boxes are one `embedding_bag` over the map's (H*W, C) cell table, with no
Python loop over boxes and no per-sample intermediate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _axis_taps(lo: torch.Tensor, hi: torch.Tensor, size: int, stride: float, offset: float, out_size: int,
               samples: int):
    """Bilinear taps along one axis for boxes spanning [lo, hi) pixels: cell indices and weights, each
    (N, out_size, 2*samples) (the two neighbours of each of a bin's samples; cells outside the map get
    weight 0, as grid_sample's zero padding)."""
    g = out_size * samples
    t = (torch.arange(g, device=lo.device, dtype=torch.float32) + 0.5) / g  # (g,) in (0, 1)
    p = lo[:, None] + t[None] * (hi - lo)[:, None]  # sample positions in pixels (N, g)
    u = (p - offset) / stride - 0.5  # feature units, with cell j's centre at j
    u0 = torch.floor(u)
    frac = u - u0
    i0 = u0.long()
    idx = torch.stack([i0, i0 + 1], -1)  # (N, g, 2)
    w = torch.stack([1.0 - frac, frac], -1) * ((idx >= 0) & (idx < size))
    n = lo.shape[0]
    return idx.clamp_(0, size - 1).view(n, out_size, 2 * samples), w.view(n, out_size, 2 * samples)


def roi_align(feat: torch.Tensor, boxes: torch.Tensor, stride: float, out_size: int,
              samples: int = 2, offset: float = 0.0) -> torch.Tensor:
    """Average-pool `out_size x out_size` bins of each box from a (1, C, Hf, Wf) feature map.

    boxes: (N, 4) x1, y1, x2, y2 in input-image pixels (continuous, pixel i spans [i, i+1]).
    Feature cell j is taken to cover pixels [j*stride + offset, (j+1)*stride + offset).
    Each bin is the mean of samples x samples bilinear samples. Returns (N, C, out, out), stored
    channels-last (a permuted view; `.flatten(1)` gives the usual C-major order).
    """
    if feat.dim() != 4 or feat.shape[0] != 1:
        raise ValueError("roi_align expects a single (1, C, H, W) feature map")
    n = boxes.shape[0]
    _, c, hf, wf = feat.shape
    if n == 0:
        return feat.new_zeros((0, c, out_size, out_size))
    b = boxes.to(device=feat.device, dtype=torch.float32)
    iy, wy = _axis_taps(b[:, 1], b[:, 3], hf, stride, offset, out_size, samples)
    ix, wx = _axis_taps(b[:, 0], b[:, 2], wf, stride, offset, out_size, samples)
    taps = (2 * samples) ** 2
    # bin (i, j) of box n: cells iy[n, i, a] * Wf + ix[n, j, b], weights wy * wx / samples^2
    idx = (iy[:, :, None, :, None] * wf + ix[:, None, :, None, :]).reshape(-1, taps)
    w = (wy[:, :, None, :, None] * (wx[:, None, :, None, :] * (1.0 / samples ** 2))).reshape(-1, taps)
    table = feat[0].permute(1, 2, 0).reshape(hf * wf, c)  # (H*W, C): a view when the map is channels_last
    bins = F.embedding_bag(idx, table, per_sample_weights=w.to(table.dtype), mode="sum")
    return bins.view(n, out_size, out_size, c).permute(0, 3, 1, 2)


def roi_align_same_box(feats: torch.Tensor, box: torch.Tensor, stride: float, out_size: int,
                       samples: int = 2, offset: float = 0.0) -> torch.Tensor:
    """RoIAlign of the same box (1, 4) in each of N maps (N, C, H, W) (patch mode) -> (N, C, out, out)."""
    n, c, hf, wf = feats.shape
    g = out_size * samples
    b = box.reshape(4).to(device=feats.device, dtype=torch.float32)
    t = (torch.arange(g, device=feats.device, dtype=torch.float32) + 0.5) / g
    gx = 2.0 * ((b[0] + t * (b[2] - b[0]) - offset) / stride) / wf - 1.0
    gy = 2.0 * ((b[1] + t * (b[3] - b[1]) - offset) / stride) / hf - 1.0
    grid = torch.stack([gx[None, :].expand(g, g), gy[:, None].expand(g, g)], -1)
    grid = grid[None].expand(n, g, g, 2).to(feats.dtype)
    out = F.grid_sample(feats, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.avg_pool2d(out, samples) if samples > 1 else out


def roi_align_naive(feat: torch.Tensor, boxes: torch.Tensor, stride: float, out_size: int,
                    samples: int = 2, offset: float = 0.0) -> torch.Tensor:
    """Reference implementation with explicit loops and manual bilinear interpolation (tests only)."""
    _, c, hf, wf = feat.shape
    f = feat[0]
    out = torch.zeros((boxes.shape[0], c, out_size, out_size), dtype=feat.dtype)

    def bilinear(u, v):  # u, v in feature units where cell centres lie at j + 0.5
        u, v = u - 0.5, v - 0.5
        x0, y0 = int(torch.floor(torch.tensor(u))), int(torch.floor(torch.tensor(v)))
        acc = torch.zeros(c, dtype=feat.dtype)
        for yy, wy in ((y0, 1 - (v - y0)), (y0 + 1, v - y0)):
            for xx, wx in ((x0, 1 - (u - x0)), (x0 + 1, u - x0)):
                if 0 <= yy < hf and 0 <= xx < wf:
                    acc += f[:, yy, xx] * wx * wy
        return acc

    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        bw, bh = (x2 - x1) / out_size, (y2 - y1) / out_size
        for by in range(out_size):
            for bx in range(out_size):
                acc = torch.zeros(c, dtype=feat.dtype)
                for sy in range(samples):
                    for sx in range(samples):
                        px = x1 + bw * (bx + (sx + 0.5) / samples)
                        py = y1 + bh * (by + (sy + 0.5) / samples)
                        acc += bilinear((px - offset) / stride, (py - offset) / stride)
                out[i, :, by, bx] = acc / samples ** 2
    return out
