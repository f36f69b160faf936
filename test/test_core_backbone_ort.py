"""The backbone through ONNX Runtime (backbone_runtime): agreement with torch, the graph cache, the choice of
runtime, and tracking with it. Everything runs the float32 path, so it holds on every x86-64 CPU."""

import numpy as np
import pytest
import torch

from rman_ros.core import RMANTracker, backbone_ort
from rman_ros.core import features as F
from rman_ros.core.config import RMANConfig
from rman_ros.core.image_utils import crop_region, image_to_tensor, region_geometry, synthetic_pattern

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(not backbone_ort.available(), reason="onnxruntime / onnx not installed")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RMAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _region(size: int) -> torch.Tensor:
    image = synthetic_pattern(360, 480)
    origin, scale = region_geometry(np.array([200.0, 150.0, 60.0, 50.0]), 48.0, size)
    return image_to_tensor(crop_region(image, origin, scale, size), CPU)


def test_onnxruntime_agrees_with_torch_and_caches_one_graph_per_region_size(cache):
    cfg = RMANConfig(device="cpu", bf16=False)
    ref = F.FeatureExtractor(cfg.replace(backbone_runtime="torch"), CPU)
    ort = F.FeatureExtractor(cfg.replace(backbone_runtime="onnxruntime"), CPU)
    assert ref.ort is None and ort.ort is not None
    for size in (224, 320):
        x = _region(size)
        a, b = ref.run_cnn(x), ort.run_cnn(x)
        assert a.shape == b.shape and b.is_contiguous(memory_format=torch.channels_last)
        assert float((a - b).abs().max()) <= 1e-5 * float(a.abs().max())  # float32 rounding, not a new model
    assert len(list(cache.glob("*.onnx"))) == 2
    again = F.FeatureExtractor(cfg.replace(backbone_runtime="onnxruntime"), CPU)  # a second process
    stamps = {p: p.stat().st_mtime_ns for p in cache.glob("*.onnx")}
    again.run_cnn(_region(224))
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.onnx")} == stamps  # read, not exported again


def test_the_cache_keeps_apart_graphs_that_share_their_weights(cache):
    """multi_level on and off run the same blocks (same weights) but return different maps: each gets its
    own graph, and a process that made one first still reads the other's right shape."""
    cfg = RMANConfig(device="cpu", bf16=False, backbone_runtime="onnxruntime")
    x = _region(224)
    multi = F.FeatureExtractor(cfg.replace(multi_level=True), CPU).run_cnn(x)
    single = F.FeatureExtractor(cfg.replace(multi_level=False), CPU).run_cnn(x)
    assert multi.shape[1] == 152 and single.shape[1] == 112
    assert single.shape[-1] * 2 == multi.shape[-1]  # stride 16 against 8
    assert len(list(cache.glob("*.onnx"))) == 2


def test_an_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("RMAN_CACHE_DIR", str(blocked))  # mkdir under a file fails
    ex = F.FeatureExtractor(RMANConfig(device="cpu", bf16=False, backbone_runtime="onnxruntime"), CPU)
    assert ex.run_cnn(_region(224)).shape[1] == ex.channels


def test_which_runtime_runs_the_backbone(monkeypatch):
    def runtime(**kw):
        return F.FeatureExtractor(RMANConfig(device="cpu", **kw), CPU).ort is not None

    assert not runtime(bf16=False)  # the default stays torch
    assert runtime(bf16=False, backbone_runtime="auto")
    assert not runtime(bf16=False, backbone_runtime="auto", feature_mode="patch")  # batches of patches
    monkeypatch.setattr(F, "cpu_has_bf16", lambda: True)  # a bf16 CPU keeps its faster bf16 torch path
    assert not runtime(backbone_runtime="onnxruntime")
    monkeypatch.setattr(F, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(backbone_ort, "available", lambda: False)
    assert not runtime(backbone_runtime="auto")
    with pytest.raises(ValueError, match="needs the onnxruntime and onnx packages"):
        runtime(backbone_runtime="onnxruntime")
    with pytest.raises(ValueError, match="backbone_runtime"):
        RMANConfig(backbone_runtime="tensorrt")


def test_tracking_with_onnxruntime_follows_a_moving_pattern(monkeypatch):
    monkeypatch.setenv("RMAN_DISABLE_BF16", "1")
    base = synthetic_pattern(240, 320)
    target = np.zeros((40, 40, 3), np.uint8)
    target[::8] = 255
    target[:, ::8] = 255
    frames = []
    for i in range(12):
        f = (base // 3).copy()
        f[100:140, 60 + 8 * i:100 + 8 * i] = target
        frames.append(f)
    t = RMANTracker(RMANConfig(device="cpu", backbone_runtime="onnxruntime", init_iters=10, update_iters=3,
                               n_init_samples=800, n_pos_init=100, n_bbreg=200))
    assert t.features.ort is not None
    t.initialize(frames[0], (60.0, 100.0, 40.0, 40.0))
    res = [t.track(f) for f in frames[1:]]
    t.close()
    x_end = res[-1]["box"][0]
    assert abs(x_end - (60 + 8 * 11)) < 12, [r["box"] for r in res]
