"""RoIAlign with plain torch ops (grid_sample), no torchvision.

All boxes are sampled in one grid_sample call on the single feature map (no Python loop over boxes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def roi_align(feat: torch.Tensor, boxes: torch.Tensor, stride: float, out_size: int,
              samples: int = 2, offset: float = 0.0) -> torch.Tensor:
    """Average-pool `out_size x out_size` bins of each box from a (1, C, Hf, Wf) feature map.

    boxes: (N, 4) x1, y1, x2, y2 in input-image pixels (continuous, pixel i spans [i, i+1]).
    Feature cell j is taken to cover pixels [j*stride + offset, (j+1)*stride + offset).
    Each bin is the mean of samples x samples bilinear samples. Returns (N, C, out, out).
    """
    if feat.dim() != 4 or feat.shape[0] != 1:
        raise ValueError("roi_align expects a single (1, C, H, W) feature map")
    n = boxes.shape[0]
    _, c, hf, wf = feat.shape
    if n == 0:
        return feat.new_zeros((0, c, out_size, out_size))
    b = boxes.to(device=feat.device, dtype=torch.float32)
    g = out_size * samples
    t = (torch.arange(g, device=feat.device, dtype=torch.float32) + 0.5) / g  # (g,) in (0, 1)
    xs = b[:, 0:1] + t[None] * (b[:, 2:3] - b[:, 0:1])  # (N, g)
    ys = b[:, 1:2] + t[None] * (b[:, 3:4] - b[:, 1:2])
    # image pixels -> feature units -> normalised [-1, 1] (align_corners=False convention)
    gx = 2.0 * ((xs - offset) / stride) / wf - 1.0
    gy = 2.0 * ((ys - offset) / stride) / hf - 1.0
    grid = torch.stack([gx[:, None, :].expand(n, g, g), gy[:, :, None].expand(n, g, g)], dim=-1)
    grid = grid.reshape(1, n * g, g, 2).to(feat.dtype)
    out = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if samples > 1:  # bin means: sum the sample rows of each bin, then the sample columns (strided views;
        rows = out.view(c, n * out_size, samples, g)  # faster than avg_pool2d or samples^2 single views)
        acc = rows[:, :, 0]
        for sy in range(1, samples):
            acc = acc + rows[:, :, sy]
        cols = acc.view(c, n * out_size, out_size, samples)
        acc = cols[..., 0]
        for sx in range(1, samples):
            acc = acc + cols[..., sx]
        out = (acc * (1.0 / samples ** 2)).view(c, n, out_size, out_size)
    else:
        out = out.view(c, n, out_size, out_size)
    return out.permute(1, 0, 2, 3)  # (N, C, out, out)


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
