"""Config YAML contract, RoIAlign, sampling, the scale filter, backbones, the VGG-M weight loaders and the
float32 matmul backend."""

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from rman_ros.core import runtime
from rman_ros.core.bbreg import BBoxRegressor, _targets
from rman_ros.core.config import RMANConfig
from rman_ros.core.roi_align import roi_align, roi_align_naive, roi_align_same_box
from rman_ros.core.sampling import draw, draw_labelled, iou
from rman_ros.core.scale_filter import ScaleFilter
from rman_ros.core.variants import ABLATIONS


# ----------------------------------------------------------------------------- config
def test_config_defaults_are_the_papers():
    c = RMANConfig()
    assert (c.K, c.lstm_hidden, c.fc_hidden, c.tau, c.lambda1, c.lambda2) == (5, 512, 512, 1.0, 2.0, 5e-4)
    assert (c.tau1, c.tau2, c.n_init_samples, c.init_iters, c.lr_init) == (0.7, 0.3, 5500, 50, 2e-4)
    assert (c.n_candidates, c.update_interval, c.update_iters, c.lr_update) == (256, 10, 15, 3e-4)
    assert (c.batch_pairs, c.optimizer) == (32, "sgd")


def test_config_metadata_contract():
    for f in dataclasses.fields(RMANConfig):
        md = f.metadata
        assert set(md) >= {"help", "range", "choices", "source", "runtime"}, f.name
        assert md["source"] in ("paper", "py-mdnet", "ours"), f.name
        assert isinstance(f.default, (bool, int, float, str)), f.name
        assert md["help"], f.name


def test_config_yaml_round_trip(tmp_path):
    c = RMANConfig().replace(K=3, lr_update=1e-3, device="cpu", use_lb=False, aggregation="apl")
    p = tmp_path / "c.yaml"
    c.to_yaml(p)
    d = RMANConfig.from_yaml(p)
    assert d == c
    assert RMANConfig.from_dict(c.to_dict()) == c


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="bogus"):
        RMANConfig.from_dict({"bogus": 1, "K": 3})
    with pytest.raises(ValueError, match="K"):
        RMANConfig(K=0)
    with pytest.raises(ValueError, match="aggregation"):
        RMANConfig(aggregation="max")
    with pytest.raises(ValueError, match="use_la"):
        RMANConfig.from_dict({"use_la": "yes"})


def test_ablations_are_valid_overrides():
    assert {"baseline", "rman", "baseline_lstm", "baseline_lstm_mal", "baseline_lstm_mal_la",
            "baseline_lstm_apl_la_lb", "baseline_mal_la_lb"} <= set(ABLATIONS)
    for name, over in ABLATIONS.items():
        RMANConfig().replace(**over)
    # the full model is the default but for its scoring: the variants use the paper's (no score fusion)
    assert RMANConfig().replace(**ABLATIONS["rman"]) == RMANConfig(baseline_fusion=0.0) != RMANConfig()
    assert all(over["baseline_fusion"] == 0.0 for over in ABLATIONS.values())


# ----------------------------------------------------------------------------- RoIAlign / sampling
def test_roi_align_matches_naive_loops():
    torch.manual_seed(0)
    feat = torch.randn(1, 3, 9, 11)
    boxes = torch.tensor([[3.0, 5.0, 40.0, 30.0], [0.0, 0.0, 88.0, 72.0], [-10.0, 50.0, 20.0, 80.0]])
    for size, samples, offset in ((3, 2, 0.0), (2, 1, 4.0), (2, 3, 2.0)):
        a = roi_align(feat, boxes, 8.0, size, samples, offset)
        b = roi_align_naive(feat, boxes, 8.0, size, samples, offset)
        assert torch.allclose(a, b, atol=1e-5)
    same = roi_align_same_box(feat.repeat(2, 1, 1, 1), boxes[:1], 8.0, 3, 2)
    assert torch.allclose(same[1], roi_align(feat, boxes[:1], 8.0, 3, 2)[0], atol=1e-6)


def test_roi_align_constant_map_and_cell_alignment():
    feat = torch.arange(8.0).reshape(1, 1, 1, 8).repeat(1, 1, 4, 1)  # value = column index
    out = roi_align(feat, torch.tensor([[16.0, 8.0, 24.0, 16.0]]), 8.0, 1, 4)
    assert out.item() == pytest.approx(2.0, abs=1e-5)  # box exactly covers feature column 2


def test_sampling_and_iou():
    rng = np.random.default_rng(0)
    box = np.array([50.0, 60.0, 40.0, 20.0])
    assert iou(box[None], box)[0] == pytest.approx(1.0)
    assert iou(np.array([[90.0, 60.0, 40.0, 20.0]]), box)[0] == 0.0
    pos = draw_labelled("gaussian", box, 100, 0.1, 1.3, rng, (0.7, 1.0))
    assert len(pos) == 100 and (iou(pos, box) >= 0.7).all()
    neg = draw_labelled("uniform", box, 100, 2.0, 1.3, rng, (0.0, 0.3), bounds=(0, 0, 200, 200))
    assert len(neg) == 100 and (iou(neg, box) <= 0.3).all()
    c = neg[:, :2] + neg[:, 2:] / 2
    assert (c >= 0).all() and (c <= 200).all()
    g = draw("gaussian", box, 1000, 0.6, 1.05, rng)
    d = np.abs(g[:, :2] + g[:, 2:] / 2 - (box[:2] + box[2:] / 2))
    assert d.max() <= 0.6 * 30 + 1e-9 and (g[:, 2] / g[:, 3]).std() < 1e-9
    a = draw("uniform", box, 1000, 0.3, 1.6, rng, aspect=1.1)  # py-MDNet's bbreg sampler
    ratio = (a[:, 2] / a[:, 3]) / 2.0
    assert ratio.min() >= 1.1 ** -2 - 1e-9 and ratio.max() <= 1.1 ** 2 + 1e-9 and ratio.std() > 0.03


# ----------------------------------------------------------------------------- backbones
# ----------------------------------------------------------------------------- bounding-box regression
def test_bbreg_recovers_a_linear_feature_model():
    rng = np.random.default_rng(1)
    gt = np.array([60.0, 40.0, 30.0, 50.0])
    boxes = draw_labelled("uniform", gt, 300, 0.3, 1.6, rng, (0.5, 1.0))
    tgt = _targets(boxes, gt)
    mix = rng.normal(size=(4, 16))
    feats = torch.from_numpy(tgt @ mix + 3.0)  # features = linear in the targets plus a large offset
    reg = BBoxRegressor(alpha=1e-6)
    reg.fit(feats, boxes, gt)
    pred = reg.predict(feats, boxes)
    np.testing.assert_allclose(pred, np.repeat(gt[None], len(boxes), 0), atol=1e-4)
    # a strong ridge penalty shrinks every refinement towards "leave the box as it is"
    stiff = BBoxRegressor(alpha=1e9)
    stiff.fit(feats, boxes, gt)
    np.testing.assert_allclose(stiff.predict(feats, boxes), boxes, rtol=1e-3, atol=1e-2)


# ----------------------------------------------------------------------------- scale filter
def _appearance(log_scales, dim=40, seed=3):
    """Smooth random features of a target seen at the given log relative scales (D = dim)."""
    rng = np.random.default_rng(seed)
    freq, phase = rng.uniform(2.0, 12.0, dim), rng.uniform(0, 2 * np.pi, dim)
    return np.sin(np.asarray(log_scales)[:, None] * freq[None] + phase[None])


def test_scale_filter_finds_the_size_change_of_a_shifted_pyramid():
    sf = ScaleFilter(n_scales=33, step=1.02, lr=0.025)
    box = np.array([40.0, 30.0, 20.0, 50.0])
    pyr = sf.boxes(box)
    assert pyr.shape == (33, 4) and np.allclose(pyr[16], box)
    np.testing.assert_allclose(pyr[:, :2] + pyr[:, 2:] / 2, np.repeat((box[:2] + box[2:] / 2)[None], 33, 0))
    np.testing.assert_allclose(pyr[-1, 2:] / box[2:], 1.02 ** 16)
    with pytest.raises(ValueError, match="before its first update"):
        sf.detect(np.zeros((33, 40)))
    steps = np.log(sf.factors)
    sf.update(_appearance(steps))  # learned on a correctly sized box
    assert sf.detect(_appearance(steps)) == 1.0
    for k in (-8, -4, 4, 8):
        # the box is 1.02**k too large: pyramid entry j shows the target at relative scale steps[j] + k steps
        err = k * np.log(1.02)
        first = np.log(sf.detect(_appearance(steps + err)))
        assert np.sign(first) == -np.sign(k), k  # shrinks an oversized box, grows an undersized one
        for _ in range(12):  # applied frame after frame (as in tracking), the size error shrinks
            err += np.log(sf.detect(_appearance(steps + err)))
        assert abs(err) <= 2 * np.log(1.02) + 1e-9, k  # to within two pyramid steps
    assert sf.detect(np.zeros((33, 40))) == 1.0  # nothing to match (a blank frame): keep the size
    # the model is a running average with rate lr (DSST)
    before, fresh = sf.num.copy(), ScaleFilter(n_scales=33, step=1.02)
    sf.update(_appearance(steps, seed=9))
    fresh.update(_appearance(steps, seed=9))
    np.testing.assert_allclose(sf.num, 0.975 * before + 0.025 * fresh.num)
    with pytest.raises(ValueError):
        ScaleFilter(n_scales=2)


def test_efficientnet_loads_strictly_and_cuts():
    from rman_ros.core.backbone import EfficientNetFeatures, load_efficientnet_lite0
    net = load_efficientnet_lite0()
    x = torch.rand(1, 3, 96, 128)
    for stride, ch in ((8, 40), (16, 112)):
        f = EfficientNetFeatures(net, stride)(x)
        assert f.shape == (1, ch, 96 // stride, 128 // stride)
    multi = EfficientNetFeatures(net, 16, multi_level=True)
    assert multi(x).shape == (1, 152, 12, 16) and multi.stride == 8
    with torch.no_grad():
        p = net(torch.full((1, 3, 224, 224), 0.5)).softmax(1)
    assert torch.isfinite(p).all() and p.sum().item() == pytest.approx(1.0, abs=1e-4)


def test_batchnorm_folding_keeps_the_features():
    from rman_ros.core.backbone import EfficientNetFeatures, fold_batchnorm, load_efficientnet_lite0
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        ref = EfficientNetFeatures(load_efficientnet_lite0(), 16, multi_level=True)(x)
        folded = fold_batchnorm(EfficientNetFeatures(load_efficientnet_lite0(), 16, multi_level=True))
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        out = folded(x)
    assert torch.allclose(out, ref, atol=1e-4, rtol=1e-4)


def test_same_conv_padding_cached_bf16_weights_and_channels_last_frames():
    """SameConv2d lets the convolution pad when TF SAME padding is symmetric (same result as padding
    explicitly); the cached bf16 weights give what autocast gives; frames enter the backbone as
    channels_last, so the convolutions keep that layout."""
    import torch.nn.functional as F
    from rman_ros.core.backbone import SameConv2d, cache_lowp_weights
    from rman_ros.core.image_utils import image_to_tensor
    torch.manual_seed(0)
    for k, stride, size in ((3, 1, 15), (5, 1, 16), (3, 2, 15), (3, 2, 16), (5, 2, 17)):
        conv = SameConv2d(4, 6, k, stride=stride, bias=False)
        x = torch.randn(1, 4, size, size + 1)
        ih, iw = x.shape[-2:]
        ph = max((-(-ih // stride) - 1) * stride + k - ih, 0)
        pw = max((-(-iw // stride) - 1) * stride + k - iw, 0)
        ref = F.conv2d(F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]), conv.weight, None, stride)
        with torch.no_grad():
            out = conv(x)
            assert out.shape == (1, 6, -(-ih // stride), -(-iw // stride))
            assert torch.allclose(out, ref, atol=1e-5)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                plain = conv(x)
                cache_lowp_weights(conv, torch.bfloat16)
                assert conv.weight_lp.dtype == torch.bfloat16
                cached = conv(x)
            assert torch.equal(plain, cached)
            assert torch.allclose(conv(x), ref, atol=1e-5)  # fp32 outside autocast: the fp32 weight
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    t = image_to_tensor(img, "cpu")
    assert t.shape == (1, 3, 20, 24) and torch.equal(t[0, :, 3, 5], torch.from_numpy(img[3, 5]).float() / 255)
    y = F.conv2d(t, torch.randn(8, 3, 3, 3), padding=1)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()


def _tiny_vggm_weights(rng):
    return {"conv1": (rng.standard_normal((4, 3, 7, 7)).astype(np.float32), rng.standard_normal(4).astype(np.float32)),
            "conv2": (rng.standard_normal((5, 4, 5, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)),
            "conv3": (rng.standard_normal((6, 5, 3, 3)).astype(np.float32), rng.standard_normal(6).astype(np.float32))}


def test_vggm_mat_loader(tmp_path):
    scipy_io = pytest.importorskip("scipy.io", reason="scipy is needed for MatConvNet .mat files")
    from rman_ros.core.backbone import build_backbone, read_vggm_mat
    rng = np.random.default_rng(0)
    w = _tiny_vggm_weights(rng)
    # MatConvNet simplenn layout: layers = 1xN cell of structs {name, type, weights={filters HWIO, biases}}
    names = ["conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3"]
    layers = np.empty((1, len(names)), dtype=object)
    for i, n in enumerate(names):
        s = {"name": n, "type": "conv" if n.startswith("conv") else n[:-1]}
        if n in w:
            cell = np.empty((1, 2), dtype=object)
            cell[0, 0] = np.transpose(w[n][0], (2, 3, 1, 0))  # OIHW -> HWIO
            cell[0, 1] = w[n][1][:, None]
            s["weights"] = cell
        else:
            s["weights"] = np.empty((0, 0), dtype=object)
        layers[0, i] = s
    p = tmp_path / "imagenet-vgg-m-conv1-3.mat"
    scipy_io.savemat(str(p), {"layers": layers})
    got = read_vggm_mat(p)
    for n in w:
        assert np.array_equal(got[n][0], w[n][0]) and np.array_equal(got[n][1], w[n][1])
    net = build_backbone("vggm", 16, str(p))
    out = net(torch.rand(1, 3, 107, 107))
    assert out.shape == (1, 6, 3, 3)  # MDNet geometry: 107x107 -> 3x3


def test_vggm_pth_loader(tmp_path):
    from rman_ros.core.backbone import build_backbone
    rng = np.random.default_rng(1)
    w = _tiny_vggm_weights(rng)
    sd = {}
    for n, (wt, b) in w.items():
        sd[f"layers.{n}.0.weight"] = torch.from_numpy(wt)
        sd[f"layers.{n}.0.bias"] = torch.from_numpy(b)
    sd["layers.fc4.0.weight"] = torch.zeros(2, 2)
    p = tmp_path / "mdnet.pth"
    torch.save({"shared_layers": sd}, p)
    net = build_backbone("vggm", 16, str(p))
    assert torch.equal(net.conv2.weight, torch.from_numpy(w["conv2"][0]))
    assert net(torch.rand(1, 3, 107, 107)).shape == (1, 6, 3, 3)
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="conv1"):
        build_backbone("vggm", 16, str(bad))
    with pytest.raises(ValueError, match="backbone_weights"):
        build_backbone("vggm", 16, "")


def test_pca_subspace_iteration_matches_a_full_eigendecomposition():
    from rman_ros.core.config import RMANConfig
    from rman_ros.core.features import FeatureExtractor, top_eigenpairs
    g = torch.Generator().manual_seed(3)
    n, d, k = 5000, 300, 32  # > 2 x 2048 rows: the iterations use a strided subset
    spectrum = torch.cat([torch.linspace(10.0, 2.0, 40), torch.full((d - 40,), 0.05)])
    x = (torch.randn(n, d, generator=g) * spectrum.sqrt()) @ torch.linalg.qr(torch.randn(d, d, generator=g))[0]
    xc = x - x.mean(0, keepdim=True)
    ev, vec = torch.linalg.eigh(xc.T @ xc / (n - 1))
    vals, basis = top_eigenpairs(xc, k)
    assert torch.allclose(vals, ev[-k:].flip(0), rtol=1e-3)
    overlap = torch.linalg.svdvals(vec[:, -k:].T @ basis)  # cosines of the principal angles
    assert overlap.min() > 0.999
    assert torch.allclose(basis.T @ basis, torch.eye(k), atol=1e-4)
    # the projection decorrelates the features and keeps unit average variance per dimension
    ex = FeatureExtractor(RMANConfig(feature_dim=k), torch.device("cpu"))
    y = ex.fit_projection(x)
    cov = torch.cov(y.T)
    assert y.shape == (n, k) and cov.diagonal().mean().item() == pytest.approx(1.0, rel=1e-3)
    assert (cov - torch.diag(cov.diagonal())).abs().max() < 1e-3


def test_box_features_fused_projection_equals_standardise_then_project():
    """box_features folds the channel standardisation into the PCA product; same features as the two steps,
    and the fold follows a refit of the projection."""
    from rman_ros.core.config import RMANConfig
    from rman_ros.core.features import FeatureExtractor
    rng = np.random.default_rng(0)
    img = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    img[40:80, 60:100] = (200, 30, 30)
    ex = FeatureExtractor(RMANConfig(feature_dim=16, roi_size=3, roi_scale=1.0), torch.device("cpu"))
    box = np.array([60.0, 40.0, 40.0, 40.0])
    ff = ex.frame(img, box, 128)
    ex.set_normalisation(ff, box)
    boxes = draw("gaussian", box, 300, 0.5, 1.2, rng, bounds=(0, 0, 160, 120))
    for fit_rows in (slice(0, 200), slice(100, 300)):
        raw = ex.box_features(ff, boxes, project=False)  # standardised, not projected
        ex.fit_projection(raw[fit_rows])
        fused = ff(boxes)
        assert fused.shape == (300, 16)
        assert torch.allclose(fused, ex.project(raw), atol=1e-4, rtol=1e-4)
    ex.proj = None  # no projection: standardised features only
    assert torch.equal(ff(boxes), ex.box_features(ff, boxes, project=False))


def test_classifier_rois_are_the_boxes_scaled_about_their_centres():
    """roi_scale: the classifier reads each box's RoI scaled about its centre (the core of the box below 1)."""
    from rman_ros.core.features import FeatureExtractor, scaled_boxes
    boxes = np.array([[10.0, 20.0, 40.0, 30.0], [0.0, 0.0, 8.0, 16.0]])
    core = scaled_boxes(boxes, 0.8)
    np.testing.assert_allclose(core[:, :2] + core[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2)
    np.testing.assert_allclose(core[:, 2:], 0.8 * boxes[:, 2:])
    rng = np.random.default_rng(0)
    img = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    img[40:80, 60:100] = (200, 30, 30)  # a red square in a noisy surround
    box = np.array([56.0, 36.0, 48.0, 48.0])  # the square plus a 4 px band of the surround
    ex = FeatureExtractor(RMANConfig(feature_dim=0, roi_scale=40.0 / 48.0), torch.device("cpu"))
    ff = ex.frame(img, box, 128)
    ex.set_normalisation(ff, box)
    sq = np.array([[60.0, 40.0, 40.0, 40.0]])
    assert torch.allclose(ff(box), ex.box_features(ff, sq), atol=1e-6)  # the box's core: the square alone
    assert not torch.allclose(ff(box), ex.box_features(ff, np.atleast_2d(box)), atol=1e-3)


def _pyramid_reference(gray, boxes, model_wh, cell=4, bins=9):
    """pixel_pyramid written out plainly: each box warped on its own from the full image, orientation votes
    accumulated pixel by pixel (unsigned angle, linear between neighbouring bins)."""
    mw, mh = model_wh
    out = []
    for x, y, w, h in boxes:
        sx, sy = mw / w, mh / h
        m = np.array([[sx, 0.0, -x * sx], [0.0, sy, -y * sy]])
        p = cv2.warpAffine(gray, m, (mw, mh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        p = p.astype(np.float64)
        gx, gy = np.zeros_like(p), np.zeros_like(p)
        gx[:, 1:-1] = p[:, 2:] - p[:, :-2]
        gy[1:-1] = p[2:] - p[:-2]
        hist = np.zeros((mh // cell, mw // cell, bins))
        for r in range(mh):
            for c in range(mw):
                a = (np.arctan2(gy[r, c], gx[r, c]) % np.pi) / np.pi * bins
                lo = int(np.floor(a)) % bins
                f = a - np.floor(a)
                mag = np.hypot(gx[r, c], gy[r, c])
                hist[r // cell, c // cell, lo] += mag * (1 - f)
                hist[r // cell, c // cell, (lo + 1) % bins] += mag * f
        hist /= np.sqrt((hist ** 2).sum(-1, keepdims=True)) + 1e-3
        inten = p.reshape(mh // cell, cell, mw // cell, cell).mean((1, 3))[..., None]
        out.append((hist, inten))
    mean = np.mean([i for _, i in out])
    return np.stack([np.concatenate([hh, i - mean], -1).ravel() for hh, i in out])


def test_pixel_pyramid_matches_a_plain_per_box_computation():
    from rman_ros.core.scale_filter import model_size, pixel_pyramid
    rng = np.random.default_rng(3)
    gray = cv2.GaussianBlur(rng.random((90, 120)).astype(np.float32), (5, 5), 1.5)
    sf = ScaleFilter(n_scales=5, step=1.05)
    # the template (area 1600) is larger than the middle box: no anti-aliased shrink; all boxes inside the image
    box = np.array([40.3, 20.6, 30.2, 44.9])
    boxes = sf.boxes(box)
    mwh = model_size(box[2:], area=1600.0)
    got = pixel_pyramid(gray, boxes, mwh)
    ref = _pyramid_reference(gray, boxes, mwh)
    assert got.shape == ref.shape == (5, (mwh[0] // 4) * (mwh[1] // 4) * 10)
    # bilinear sampling is quantised to 1/32 px by OpenCV in both paths, in different places
    assert np.abs(got - ref).max() < 2e-3


# ----------------------------------------------------------------------------- runtime: float32 matmul backend
@pytest.fixture
def mkl_afterwards(monkeypatch):
    monkeypatch.setattr(runtime, "_onednn_exact", None)  # each test probes afresh
    yield
    runtime.select_matmul_backend("mkl")


def test_fp32_product_error_tells_float32_from_bf16_arithmetic():
    assert runtime.fp32_product_error(torch.mm) <= 8.0
    assert runtime.fp32_product_error(lambda a, b: (a.bfloat16() @ b.bfloat16()).float()) > 100.0
    # one rounding of the inputs to bf16 is enough to be caught
    assert runtime.fp32_product_error(lambda a, b: a.bfloat16().float() @ b) > 100.0


def test_select_matmul_backend_keeps_products_exact_float32(mkl_afterwards):
    assert runtime.select_matmul_backend("mkl") == "mkl"
    assert torch.backends.mkldnn.matmul.fp32_precision == "none"
    got = runtime.select_matmul_backend("onednn")
    assert got in ("onednn", "mkl")
    assert (torch.backends.mkldnn.matmul.fp32_precision == "bf16") == (got == "onednn")
    assert runtime.fp32_product_error(torch.mm) <= 8.0  # whichever library runs them, they are float32
    a = torch.randn(64, 1024, dtype=torch.float32)
    b = torch.randn(1024, 512, dtype=torch.float32)
    assert torch.allclose(a @ b, (a.double() @ b.double()).float(), rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="matmul backend"):
        runtime.select_matmul_backend("blas")


def test_select_matmul_backend_falls_back_when_onednn_rounds_to_bf16(monkeypatch, mkl_afterwards):
    monkeypatch.setattr(runtime, "fp32_product_error", lambda mm: 5000.0)  # as on a CPU where oneDNN uses AMX
    assert runtime.select_matmul_backend("onednn") == "mkl"
    assert torch.backends.mkldnn.matmul.fp32_precision == "none"


def test_auto_matmul_backend_is_onednn_only_on_amd_with_avx512(monkeypatch, mkl_afterwards):
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: "GenuineIntel")
    assert runtime.select_matmul_backend("auto") == "mkl"
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: "AuthenticAMD")
    want = "onednn" if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else "mkl"
    assert runtime.select_matmul_backend("auto") == want
