"""Scale estimation by a 1-D correlation filter over a scale pyramid (the DSST scheme of Danelljan et al.,
BMVC 2014), learned online from the tracked boxes.

The paper refines boxes by first-frame bounding-box regression only, and names better scale estimation as
future work. That regressor loses its sensitivity to oversized boxes as the target's appearance drifts
(a box twice the target's size contains all of it), so boxes grow on targets of constant size.

Per frame: S boxes share the target centre and have sizes size * step**n, n = -(S-1)/2 .. (S-1)/2. Each is
resampled to one fixed template and described by gradient-orientation histograms (`pixel_pyramid`), so
the box of the right size shows the same content at every frame; the S x D features form a signal along
the scale axis. The filter (per feature dimension, Fourier domain along that axis) maps it to a Gaussian
peaked at the centre scale:
    H_d = conj(G) F_d / (sum_d' conj(F_d') F_d' + lambda)
with numerator A and denominator B kept as running averages of rate `lr`; the detected scale is the
argmax of  y = IFFT( sum_d conj(A_d) Z_d / (B + lambda) ).
"""

from __future__ import annotations

import functools
from typing import Optional

import cv2
import numpy as np


class ScaleFilter:
    def __init__(self, n_scales: int = 33, step: float = 1.02, lr: float = 0.025, sigma_factor: float = 0.25,
                 lam: float = 1e-2):
        if n_scales < 3 or step <= 1.0:
            raise ValueError("scale filter needs n_scales >= 3 and step > 1")
        self.n = int(n_scales)
        self.lr = float(lr)
        self.lam = float(lam)
        offsets = np.arange(self.n) - (self.n - 1) / 2.0
        self.factors = float(step) ** offsets                     # (S,) size multipliers
        sigma = np.sqrt(self.n) * sigma_factor
        self.g_hat = np.fft.fft(np.exp(-0.5 * offsets ** 2 / sigma ** 2))  # desired response, peak at the centre
        self.window = np.hanning(self.n + 2)[1:-1][:, None]       # taper along the scale axis
        self.num: Optional[np.ndarray] = None                     # A (S, D) complex
        self.den: Optional[np.ndarray] = None                     # B (S,)

    def boxes(self, box: np.ndarray, size: Optional[np.ndarray] = None) -> np.ndarray:
        """The S pyramid boxes (x, y, w, h) centred on `box`, sized `size` (default the box's own) x factors."""
        box = np.asarray(box, dtype=np.float64)
        wh = np.asarray(box[2:] if size is None else size, dtype=np.float64)
        c = box[:2] + box[2:] / 2
        sizes = wh[None] * self.factors[:, None]
        return np.concatenate([c[None] - sizes / 2, sizes], 1)

    def _spectrum(self, feats) -> np.ndarray:
        x = np.asarray(feats, dtype=np.float64).reshape(self.n, -1)
        return np.fft.fft(x * self.window, axis=0)

    def update(self, feats) -> None:
        """Learn from the pyramid features (S, D) of a box taken as correctly sized."""
        f = self._spectrum(feats)
        num = np.conj(self.g_hat)[:, None] * f
        den = (np.conj(f) * f).real.sum(1)
        if self.num is None:
            self.num, self.den = num, den
        else:
            self.num = (1 - self.lr) * self.num + self.lr * num
            self.den = (1 - self.lr) * self.den + self.lr * den

    def response(self, feats) -> np.ndarray:
        if self.num is None:
            raise ValueError("scale filter used before its first update")
        z = self._spectrum(feats)
        return np.fft.ifft((np.conj(self.num) * z).sum(1) / (self.den + self.lam)).real

    def detect(self, feats) -> float:
        """Size multiplier (one of the pyramid factors) that best matches the learned appearance; 1 when the
        response has no positive peak (e.g. a blank frame)."""
        y = self.response(feats)
        if not np.all(np.isfinite(y)) or y.max() <= 0:
            return 1.0
        return float(self.factors[int(np.argmax(y))])


def damped_size(previous: np.ndarray, found: np.ndarray, rate: float) -> np.ndarray:
    """The damped size update: `found` blended geometrically with `previous` (rate 1: `found` as it is)."""
    return np.exp((1.0 - rate) * np.log(previous) + rate * np.log(found))


def model_size(wh: np.ndarray, area: float = 1024.0, cell: int = 4) -> tuple:
    """Template (width, height) of about `area` pixels with the box's aspect ratio, in whole cells."""
    k = np.sqrt(area / max(wh[0] * wh[1], 1e-6))
    w = max(2, int(round(wh[0] * k / cell))) * cell
    h = max(2, int(round(wh[1] * k / cell))) * cell
    return w, h


def _working_patch(gray: np.ndarray, box: np.ndarray, scale: float):
    """The region `box` (x, y, w, h) of `gray`, resampled by `scale` (anti-aliased when shrinking; pixels
    outside the image repeat the border). Returns (patch, origin, (fx, fy)): origin is the image point at patch
    pixel (0, 0), fx and fy the scales actually applied."""
    h_img, w_img = gray.shape
    x0, y0 = int(np.floor(box[0])) - 1, int(np.floor(box[1])) - 1
    x1, y1 = int(np.ceil(box[0] + box[2])) + 2, int(np.ceil(box[1] + box[3])) + 2
    crop = gray[max(y0, 0):max(min(y1, h_img), 1), max(x0, 0):max(min(x1, w_img), 1)]
    pads = (max(0, -y0), max(0, y1 - h_img), max(0, -x0), max(0, x1 - w_img))
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    if scale < 1.0:
        size = (max(1, int(round(crop.shape[1] * scale))), max(1, int(round(crop.shape[0] * scale))))
        fx, fy = size[0] / crop.shape[1], size[1] / crop.shape[0]
        return cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.array([x0, y0], float), (fx, fy)
    return crop, np.array([x0, y0], float), (1.0, 1.0)


@functools.lru_cache(maxsize=16)
def _cell_bins(s: int, mh: int, mw: int, cell: int, bins: int) -> np.ndarray:
    """First histogram slot of each template pixel's cell, for S templates of mh x mw (flattened)."""
    ch, cw = mh // cell, mw // cell
    cell_id = ((np.arange(s)[:, None, None] * ch + (np.arange(mh) // cell)[None, :, None]) * cw
               + (np.arange(mw) // cell)[None, None, :])
    out = (cell_id * bins).ravel()
    out.flags.writeable = False
    return out


def _template_maps(boxes: np.ndarray, origin: np.ndarray, f: tuple, mw: int, mh: int):
    """Sampling maps of all S templates stacked along the rows, (S*mh, mw) each: template pixel (u, v) of
    box (x, y, w, h) reads the working patch at ((x - ox) fx + u w fx / mw, (y - oy) fy + v h fy / mh)."""
    fx, fy = f
    sx = boxes[:, 2] * fx / mw                                    # working-patch pixels per template pixel
    sy = boxes[:, 3] * fy / mh
    map_x = (boxes[:, 0] - origin[0]) * fx
    map_y = (boxes[:, 1] - origin[1]) * fy
    u, v = np.arange(mw, dtype=np.float64), np.arange(mh, dtype=np.float64)
    mx = np.broadcast_to((map_x[:, None] + sx[:, None] * u[None])[:, None, :], (len(boxes), mh, mw))
    my = np.broadcast_to((map_y[:, None] + sy[:, None] * v[None])[:, :, None], (len(boxes), mh, mw))
    return (mx.reshape(-1, mw).astype(np.float32), my.reshape(-1, mw).astype(np.float32))


def pixel_pyramid(gray: np.ndarray, boxes: np.ndarray, model_wh: tuple, cell: int = 4, bins: int = 9) -> np.ndarray:
    """Features of each box resampled to a fixed template (as DSST does), so that the box at the right scale
    shows the same content at every frame: per cell of `cell` x `cell` pixels, a magnitude-weighted
    histogram of unsigned gradient orientations (linear votes between bins, L2-normalised per cell) and the
    mean intensity. gray: HxW float32 in [0, 1]; boxes (S, 4) x, y, w, h, centred on one point
    (a scale pyramid) -> (S, D)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    mw, mh = model_wh
    s, ch, cw = len(boxes), mh // cell, mw // cell
    mid_area = np.median(boxes[:, 2] * boxes[:, 3])  # the middle box of a scale pyramid
    outer = np.concatenate([boxes[:, :2].min(0), (boxes[:, :2] + boxes[:, 2:]).max(0) - boxes[:, :2].min(0)])
    # one anti-aliased shrink of the region that holds every pyramid box, so that the middle box is about
    # template sized; all S templates are then sampled from it bilinearly in one remap
    work, origin, f = _working_patch(gray, outer, min(1.0, np.sqrt(mw * mh / max(mid_area, 1e-6))))
    patches = cv2.remap(work, *_template_maps(boxes, origin, f, mw, mh), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE).reshape(s, mh, mw)
    gx = np.zeros_like(patches)
    gy = np.zeros_like(patches)
    np.subtract(patches[:, :, 2:], patches[:, :, :-2], out=gx[:, :, 1:-1])
    np.subtract(patches[:, 2:], patches[:, :-2], out=gy[:, 1:-1])
    mag, ang = cv2.cartToPolar(gx.reshape(-1, mw), gy.reshape(-1, mw))  # angle in [0, 2 pi]
    # votes go to 2*bins signed bins (plus 2 spare slots for the wrap-around at 2 pi), and signed bins j
    # and j + bins are then folded into the unsigned bin j
    ang = ang.ravel()
    ang *= np.float32(bins / np.pi)
    lo = ang.astype(np.int32)                                         # floor (ang >= 0), at most 2 * bins
    m = mag.ravel()
    hi_w = (ang - lo.astype(np.float32)) * m                          # the vote for the next bin up
    stride = 2 * bins + 2
    base = _cell_bins(s, mh, mw, cell, stride)
    n = s * ch * cw * stride
    idx = base + lo
    signed = (np.bincount(idx, m - hi_w, n) + np.bincount(idx + 1, hi_w, n)).reshape(s, ch, cw, stride)
    hist = signed[..., :bins] + signed[..., bins:2 * bins]
    hist[..., :2] += signed[..., 2 * bins:]
    hist /= np.sqrt(np.einsum("...i,...i->...", hist, hist))[..., None] + 1e-3
    # cell means of the intensity (block averages: an area resize by exactly 1 / cell)
    inten = cv2.resize(patches.reshape(s * mh, mw), (cw, s * ch), interpolation=cv2.INTER_AREA)
    inten = inten.reshape(s, ch, cw, 1).astype(np.float64)
    return np.concatenate([hist, inten - inten.mean()], -1).reshape(s, -1)
