"""`bench visualize` draws the Sec. III-C figures from rman_ros.core.analysis (cheap config)."""
import numpy as np
import pytest

from rman_ros.bench.cli import main as bench_main
from rman_ros.bench.synthetic import write_otb_sequence
from rman_ros.bench.visualize import background_boxes, jitter_boxes


def test_sample_helpers():
    rng = np.random.default_rng(0)
    b = jitter_boxes((10, 10, 20, 20), 50, 0.1, 1.3, rng)
    assert b.shape == (50, 4) and np.all(b[:, 2:] > 0)
    bg = background_boxes((40, 40, 20, 20), (120, 160, 3))
    assert 1 <= len(bg) <= 3


def test_visualize_writes_figures(tmp_path):
    try:
        from rman_ros.core import analysis  # noqa: F401
        from rman_ros.core.variants import ABLATIONS  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"rman_ros.core.analysis / variants not available yet: {exc}")
    folder = write_otb_sequence(tmp_path, "Square", n=4)
    cfg = tmp_path / "fast.yaml"  # cheap configuration: checks the wiring, not the paper's figures
    cfg.write_text("n_init_samples: 400\nn_pos_init: 100\ninit_iters: 3\nn_bbreg: 50\nupdate_iters: 2\n"
                   "n_candidates: 32\n")
    out = tmp_path / "vis"
    rc = bench_main(["visualize", "--sequence", str(folder), "--frame", "2", "--out", str(out),
                     "--config", str(cfg), "--attention-variants", "rman"])
    assert rc == 0
    for name in ("fig3_activation.png", "fig4_attention.png", "fig5_pcc.png", "history_scores.png"):
        assert (out / name).stat().st_size > 1000, name
    data = np.load(out / "visualize_data.npz")
    assert data["theta"].shape[0] >= 2 and data["attention_rman"].ndim == 2
    assert np.all(np.abs(data["pcc_pos_pos"]) <= 1 + 1e-9)
    assert list(data["history_frames"]) == [1]  # the gt box of frame 1, scored before it was tracked
    for k in ("tracked", "first", "own"):
        assert 0 <= data[f"history_{k}"][0] <= 1
    # before frame 1 is tracked, the tracked history is still the first-frame one
    assert abs(data["history_tracked"][0] - data["history_first"][0]) < 1e-6
