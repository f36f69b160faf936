"""`bench mal-probe`: the activation weights (Eq. 1) against each history patch's likeness to the target."""
import json

import numpy as np
import pytest

from rman_ros.bench.cli import main as bench_main
from rman_ros.bench.mal_probe import summarize


def _rows(theta_of_sim, n=20, k=5, seed=0):
    """Frames whose history holds one patch unlike the target (similarity 0.5) among four like it."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        sim = np.array([0.95] * k)
        sim[rng.integers(k)] = 0.5
        sim += rng.normal(0, 0.01, k)
        rows.append({"frame": i + 1, "theta": theta_of_sim(sim), "theta_bg": 0.2, "sim": sim,
                     "inserted_weight": 0.5})
    return rows


def test_a_layer_that_ignores_unlike_patches_shows_in_the_summary():
    ignoring = summarize(_rows(lambda s: s.copy()))  # weights follow the likeness
    blind = summarize(_rows(lambda s: np.full_like(s, 0.9) + 0.01 * np.cos(np.arange(len(s)))))
    assert ignoring["mixed_frames"] == blind["mixed_frames"] == 20
    assert ignoring["corr_with_similarity"] > 0.95 and ignoring["least_similar_weight"] < 0.7
    assert abs(blind["least_similar_weight"] - 1) < 0.03
    assert ignoring["theta_range"] > 0.4 > 0.05 > blind["theta_range"]


def test_histories_alike_are_not_counted_as_mixed():
    rows = [{"frame": 1, "theta": np.full(5, 0.9), "theta_bg": 0.3, "sim": np.ones(5), "inserted_weight": 1.0}]
    r = summarize(rows)
    assert r["mixed_frames"] == 0 and np.isnan(r["corr_with_similarity"])
    assert r["theta_target"] == pytest.approx(0.9) and r["theta_background"] == pytest.approx(0.3)
    with pytest.raises(ValueError):
        summarize([])


def test_the_probe_on_real_frames(data_dir, tmp_path):
    """The default tracker on the first frames of FaceOcc1: the ground-truth box activates the memory more
    than background boxes do, and a background patch in the history weighs less than the tracked ones
    (Fig. 3)."""
    out = tmp_path / "mal.json"
    rc = bench_main(["mal-probe", "--dataset-root", str(data_dir), "--sequences", "FaceOcc1", "--frames", "12",
                     "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())["FaceOcc1"]
    assert r["frames"] == 11  # frames 1..11, each probed before it is tracked
    assert r["theta_target"] > r["theta_background"] + 0.2
    assert 0 <= r["theta_range"] < 0.5
    assert 0 < r["inserted_weight"] < 1  # a background patch in the history weighs less than the tracked ones


def test_the_probe_needs_the_activation_layer(data_dir, capsys):
    rc = bench_main(["mal-probe", "--dataset-root", str(data_dir), "--sequences", "FaceOcc1", "--frames", "3",
                     "--tracker", "rman:baseline"])
    assert rc == 2
    assert "aggregation='mal'" in capsys.readouterr().err


def test_the_mean_row_weights_mixed_history_figures_by_their_frames():
    from rman_ros.bench.mal_probe import _mean_row

    base = {"theta_target": 0.9, "theta_background": 0.3, "theta_range": 0.1, "inserted_weight": 0.3}
    rows = [dict(base, frames=100, mixed_frames=0, corr_with_similarity=float("nan"),
                 least_similar_weight=float("nan")),
            dict(base, frames=100, mixed_frames=30, corr_with_similarity=0.5, least_similar_weight=0.6),
            dict(base, frames=100, mixed_frames=10, corr_with_similarity=-0.5, least_similar_weight=1.0)]
    m = _mean_row(rows)
    assert m["frames"] == 300 and m["mixed_frames"] == 40
    assert m["corr_with_similarity"] == pytest.approx(0.25) and m["least_similar_weight"] == pytest.approx(0.7)
    assert m["theta_target"] == pytest.approx(0.9)
