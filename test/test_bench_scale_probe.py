"""The scale probe: the tracker's size estimate alone, on ground-truth centres."""
import json

import cv2
import numpy as np
import pytest

from rman_ros.bench.cli import main as bench_main
from rman_ros.bench.scale_probe import probe_sizes, size_log_ratios, summarize


def _scaling_target(n=40, rate=1.01, base=40, seed=0):
    """A blurred-noise texture whose side is base * rate**t at frame t, centred on a blurred-noise
    background (grayscale frames) and its exact boxes."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (160, 200), dtype=np.uint8), (0, 0), 3)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (64, 64), dtype=np.uint8), (0, 0), 1.5)
    frames, gt = [], []
    for t in range(n):
        side = int(round(base * rate ** t))
        patch = cv2.resize(tex, (side, side), interpolation=cv2.INTER_LINEAR)
        x0, y0 = 100 - side // 2, 80 - side // 2
        img = bg.copy()
        img[y0:y0 + side, x0:x0 + side] = patch
        frames.append(img)
        gt.append((x0, y0, side, side))
    return frames, np.asarray(gt, dtype=np.float64)


@pytest.mark.parametrize("rate", [1.02, 1.01, 0.99])
def test_the_probe_follows_a_growing_or_shrinking_target_with_a_small_lag(rate):
    frames, gt = _scaling_target(rate=rate)
    sizes = probe_sizes(frames, gt)
    assert sizes.shape == (len(gt), 2)
    got = summarize(size_log_ratios(sizes, gt))
    kept = summarize(size_log_ratios(np.repeat(gt[:1, 2:], len(gt), 0), gt))  # a box that never resizes
    assert got["frames"] == len(gt)
    assert np.sign(got["bias"]) == -np.sign(np.log(rate))  # it lags: too small while growing, too large while shrinking
    assert got["error"] < 0.25 * kept["error"]


@pytest.mark.parametrize("rate", [1.02, 0.98])
def test_learning_from_the_true_boxes_leaves_the_detection_s_own_lag(rate):
    """A filter that learns from its own boxes learns the lagged size as the target's; learning from the
    ground truth removes that part of the lag, and what is left (the detection's) keeps the lag's sign."""
    frames, gt = _scaling_target(n=60, rate=rate)
    own = summarize(size_log_ratios(probe_sizes(frames, gt), gt))
    truth = summarize(size_log_ratios(probe_sizes(frames, gt, learn_from_truth=True), gt))
    assert truth["error"] < 0.7 * own["error"]
    assert np.sign(truth["bias"]) == np.sign(own["bias"]) == -np.sign(np.log(rate))


def test_the_probe_keeps_a_constant_size_and_skips_frames_without_ground_truth():
    frames, gt = _scaling_target(rate=1.0)
    gt[10] = 0.0  # no annotation on that frame: the size is kept and the frame is not scored
    sizes = probe_sizes(frames, gt)
    ratios = size_log_ratios(sizes, gt)
    assert len(ratios) == len(gt) - 1
    assert np.abs(ratios).max() < 0.02


def test_scale_probe_cli_on_a_real_sequence(data_dir, tmp_path, capsys):
    if not (data_dir / "otb" / "Deer").is_dir():
        pytest.skip(f"Deer not found under {data_dir}")
    out = tmp_path / "probe.json"
    assert bench_main(["scale-probe", "--dataset-root", str(data_dir), "--sequences", "Deer", "--out", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert set(scores) == {"Deer"} and scores["Deer"]["frames"] == 71
    assert 0.0 < scores["Deer"]["error"] < 0.5
    assert "Deer" in capsys.readouterr().out
    assert bench_main(["scale-probe", "--dataset-root", str(data_dir), "--sequences", "Deer", "--out", str(out),
                       "--learn-from-truth"]) == 0
    assert "learning from the ground-truth boxes" in capsys.readouterr().out
    assert json.loads(out.read_text())["Deer"]["frames"] == 71
    assert bench_main(["scale-probe", "--dataset-root", str(tmp_path / "missing")]) == 2
