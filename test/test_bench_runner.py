"""Runner + report: real tracking runs on tiny folders, resume, failures, workers, published results."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from rman_ros.bench import datasets as D
from rman_ros.bench import metrics as M
from rman_ros.bench import runner
from rman_ros.bench.cli import main as bench_main
from rman_ros.bench.report import build_report
from rman_ros.bench.synthetic import write_otb_sequence
from rman_ros.bench.trackers import OPENCV_TRACKERS, OpenCVTracker, parse_tracker
from rman_ros.io import format_boxes, read_boxes


def _data_dir() -> Path:
    env = os.environ.get("RMAN_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


DATA = _data_dir()


@pytest.fixture()
def dataset(tmp_path):
    root = tmp_path / "ds"
    write_otb_sequence(root, "Alpha", n=10, seed=1)
    write_otb_sequence(root, "Beta", n=8, seed=2, step=(-1.0, 1.0), box=(60.0, 30.0, 20.0, 24.0))
    bad = write_otb_sequence(root, "Broken", n=6, seed=3)
    (bad / "img" / "0004.jpg").unlink()
    corrupt = write_otb_sequence(root, "Corrupt", n=5, seed=4)
    (corrupt / "img" / "0003.jpg").write_bytes(b"\xff\xd8 truncated")
    return root


def _read_summary(out):
    return {(r["tracker"], r["sequence"]): r for r in json.loads((out / "run_summary.json").read_text())["runs"]}


def test_run_writes_results_resumes_and_reports_failures(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    rc = bench_main(["run", "--dataset-root", str(dataset), "--trackers", "csrt", "--out", str(out)])
    assert rc == 1  # one sequence failed, the others ran
    summ = _read_summary(out)
    assert summ[("csrt", "Alpha")]["status"] == "done" and summ[("csrt", "Beta")]["status"] == "done"
    assert summ[("csrt", "Broken")]["status"] == "failed"
    assert "missing frame 4" in summ[("csrt", "Broken")]["error"]
    assert "missing frame 4" in (out / "csrt" / "Broken.error").read_text()
    assert summ[("csrt", "Corrupt")]["status"] == "failed"
    assert "cannot decode image" in summ[("csrt", "Corrupt")]["error"]
    assert not (out / "csrt" / "Corrupt.txt").exists()
    assert "FAILED csrt / Broken" in capsys.readouterr().out
    lines = (out / "csrt" / "Alpha.txt").read_text().splitlines()
    assert len(lines) == 10 and all(len(line.split(",")) == 4 for line in lines)
    assert all(len(v.split(".")[1]) >= 2 for v in lines[3].split(","))  # decimals kept
    times = np.loadtxt(out / "csrt" / "Alpha_time.txt")
    assert times.shape == (10,) and np.all(times > 0)
    boxes = read_boxes(out / "csrt" / "Alpha.txt")
    seq = D.load_sequence(dataset / "Alpha")
    np.testing.assert_allclose(boxes[0], seq.gt[0])
    assert M.sequence_metrics(boxes, seq.gt)["auc"] > 0.5  # CSRT follows the textured square
    # resume: existing results are skipped and not rewritten
    mtime = (out / "csrt" / "Alpha.txt").stat().st_mtime_ns
    rc = bench_main(["run", "--dataset-root", str(dataset), "--trackers", "csrt", "--out", str(out),
                     "--sequences", "Alpha,Beta"])
    assert rc == 0
    summ = _read_summary(out)
    assert summ[("csrt", "Alpha")]["status"] == "skipped"
    assert (out / "csrt" / "Alpha.txt").stat().st_mtime_ns == mtime


def test_parallel_workers_and_repeats(dataset, tmp_path):
    out = tmp_path / "out"
    specs = [parse_tracker("mil"), parse_tracker("kcf")]
    seqs = D.select(D.discover(dataset), ["Alpha", "Beta"])
    tasks = runner.build_tasks(specs, seqs, out, repeat=2)
    assert len(tasks) == 8
    res = runner.run(tasks, workers=2)
    assert sorted(r["status"] for r in res) == ["done"] * 8
    assert (out / "mil" / "Beta.txt").is_file() and (out / "mil" / "repeat2" / "Beta.txt").is_file()
    scores = build_report(out, dataset, sequences=["Alpha", "Beta"])
    assert scores["mil"]["runs"] == 2 and "auc_std" in scores["mil"] and "fps_std" in scores["mil"]
    # fixed seeds: the two runs give the same boxes
    np.testing.assert_allclose(read_boxes(out / "kcf" / "Alpha.txt"), read_boxes(out / "kcf" / "repeat2" / "Alpha.txt"))
    md = (out / "report" / "report.md").read_text()
    assert "±" in md and "| mil |" in md


def test_published_results_and_report(dataset, tmp_path):
    pub = tmp_path / "pub" / "Oracle"
    pub.mkdir(parents=True)
    gts = {}
    for name in ("Alpha", "Beta"):
        seq = D.load_sequence(dataset / name)
        noisy = seq.gt + np.array([1.5, -2.0, 0.0, 3.0])
        noisy[0] = seq.gt[0]
        gts[name] = (noisy, seq.gt)
        (pub / f"{name.lower()}.txt").write_text(format_boxes(noisy).replace(",", "\t"))
    out = tmp_path / "out"
    rc = bench_main(["run", "--dataset-root", str(dataset), "--trackers", "published:Oracle", "--out", str(out),
                     "--sequences", "Alpha,Beta", "--published-root", str(tmp_path / "pub")])
    assert rc == 0
    rc = bench_main(["report", "--results", str(out), "--dataset-root", str(dataset), "--sequences", "Alpha,Beta"])
    assert rc == 0
    scores = json.loads((out / "report" / "scores.json").read_text())
    exp = np.mean([M.sequence_metrics(p, g)["auc"] for p, g in gts.values()])
    assert scores["Oracle"]["auc"] == pytest.approx(exp)
    assert set(scores["Oracle"]["per_sequence"]) == {"Alpha", "Beta"}
    for key in ("auc", "dp20", "os50", "cle", "fps"):
        assert key in scores["Oracle"]
    assert scores["Oracle"]["fps"] is None  # published results have no timing; strict JSON (no NaN)
    for png in ("success.png", "precision.png"):
        assert (out / "report" / png).stat().st_size > 1000


def test_tracker_names():
    assert parse_tracker("CSRT").label == "csrt"
    assert parse_tracker("published:SiamRPN++").label == "SiamRPN++"
    with pytest.raises(ValueError, match="unknown tracker"):
        parse_tracker("nope")
    import cv2

    frame = np.zeros((60, 80, 3), np.uint8)
    frame[20:40, 30:50] = 255
    for name in OPENCV_TRACKERS:
        t = OpenCVTracker(name)
        t.initialize(frame, (30.0, 20.0, 20.0, 20.0))
        box = t.track(frame)
        assert len(box) == 4, name
    assert cv2.__version__


def test_rman_variants_when_core_is_ready():
    try:
        from rman_ros.core.variants import ABLATIONS
    except ImportError as exc:
        pytest.skip(f"rman_ros.core.variants not available yet: {exc}")
    for name in ABLATIONS:
        spec = parse_tracker(f"rman:{name}")
        assert spec.kind == "rman" and spec.label.startswith("rman-")


def test_the_fast_preset_is_a_tracker_name_but_not_an_ablation():
    from rman_ros.bench.trackers import rman_variants

    spec = parse_tracker("rman:fast", {"seed": 4})
    assert spec.label == "rman-fast"
    assert spec.overrides_dict == {"update_interval": 20, "update_iters": 8, "lstm_hidden": 256,
                                   "fc_hidden": 256, "seed": 4}
    assert "fast" not in rman_variants()  # `bench ablation` runs the paper's variants only
    with pytest.raises(ValueError, match="unknown RMAN variant or preset 'fastest'"):
        parse_tracker("rman:fastest")


@pytest.mark.skipif(not (DATA / "published_results" / "MDNet").is_dir() or not (DATA / "otb").is_dir(),
                    reason=f"shared data (otb + published_results/MDNet) not found under {DATA}")
def test_published_mdnet_scores_on_shared_otb(tmp_path):
    out = tmp_path / "out"
    rc = bench_main(["run", "--dataset-root", str(DATA / "otb"), "--trackers", "published:MDNet",
                     "--out", str(out)])
    assert rc == 0
    scores = build_report(out, DATA / "otb", ["MDNet"])
    n_seqs = len([d for d in (DATA / "otb").iterdir() if (d / "groundtruth_rect.txt").is_file()])
    assert scores["MDNet"]["sequences"] == n_seqs  # published results cover every shared OTB sequence
    per_seq = scores["MDNet"]["per_sequence"]
    assert scores["MDNet"]["auc"] == pytest.approx(np.mean([v["auc"] for v in per_seq.values()]))
    assert 0.6 < scores["MDNet"]["auc"] < 0.72  # MDNet's published OTB-100 AUC is 0.678
    assert scores["MDNet"]["per_sequence"]["David"]["auc"] == pytest.approx(0.75, abs=0.01)
    assert (out / "report" / "attr_OCC.png").is_file()


def test_ablation_subset_with_cheap_config(tmp_path):
    try:
        from rman_ros.core import RMANTracker  # noqa: F401
        from rman_ros.core.variants import ABLATIONS
    except ImportError as exc:
        pytest.skip(f"rman_ros.core (RMANTracker, variants) not available yet: {exc}")
    assert {"baseline", "rman"} <= set(ABLATIONS)
    root = tmp_path / "ds"
    write_otb_sequence(root, "Tiny", n=3)
    cfg = tmp_path / "fast.yaml"  # cheap configuration: checks the wiring, not accuracy
    cfg.write_text("n_init_samples: 400\nn_pos_init: 100\ninit_iters: 3\nn_bbreg: 50\nupdate_iters: 2\n"
                   "n_candidates: 32\n")
    out = tmp_path / "abl"
    rc = bench_main(["ablation", "--dataset-root", str(root), "--out", str(out), "--variants", "baseline,rman",
                     "--config", str(cfg)])
    assert rc == 0
    scores = json.loads((out / "report" / "scores.json").read_text())
    assert set(scores) == {"rman-baseline-fast", "rman-full-fast"}
    assert read_boxes(out / "rman-full-fast" / "Tiny.txt").shape == (3, 4)


def test_rman_repeats_use_their_run_seed(dataset, tmp_path):
    """--repeat must sample RMAN's own randomness: run k tracks with config seed + k - 1."""
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("n_init_samples: 400\nn_pos_init: 100\ninit_iters: 3\nn_bbreg: 50\nupdate_iters: 2\n"
                   "n_candidates: 32\nupdate_interval: 3\nseed: 7\n")
    out = tmp_path / "out"
    rc = bench_main(["run", "--dataset-root", str(dataset), "--sequences", "Alpha", "--trackers", "rman",
                     "--config", str(cfg), "--out", str(out), "--repeat", "2"])
    assert rc == 0
    first, second = read_boxes(out / "rman-fast" / "Alpha.txt"), read_boxes(out / "rman-fast" / "repeat2" / "Alpha.txt")
    assert first.shape == second.shape == (10, 4)
    assert not np.allclose(first[1:], second[1:])
    from rman_ros.bench.trackers import make_tracker
    spec = parse_tracker("rman")
    assert make_tracker(spec, 0)._tracker.cfg.seed == 0 and make_tracker(spec, 2)._tracker.cfg.seed == 2


def test_rman_stage_timings_are_written_and_reported(dataset, tmp_path, capsys):
    """The runner writes RMAN's per-frame stage seconds and update counter; the report breaks the time down."""
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("n_init_samples: 400\nn_pos_init: 100\ninit_iters: 3\nn_bbreg: 50\nupdate_iters: 3\n"
                   "n_candidates: 32\nupdate_interval: 3\n")
    out = tmp_path / "out"
    common = ["--dataset-root", str(dataset), "--sequences", "Alpha,Beta"]
    assert bench_main(["run", *common, "--trackers", "rman,csrt", "--config", str(cfg), "--out", str(out)]) == 0
    assert bench_main(["report", "--results", str(out), *common]) == 0
    assert not (out / "csrt" / "Alpha_stages.csv").exists()  # no stage timings from OpenCV trackers
    from rman_ros.bench.stages import read_stages
    st = read_stages(out / "rman-fast" / "Alpha_stages.csv")
    assert len(st["frame"]) == 10 and list(st["frame"]) == list(range(10))
    assert st["train"][0] > 0 and np.isnan(st["detect"][0])  # frame 0 is the initialisation
    assert np.all(st["detect"][1:] > 0) and np.all(st["total"][1:] >= st["detect"][1:])
    rose = np.diff(st["updates_done"]) > 0  # the sync updates: their frames carry the update time
    assert rose.any() and not rose.all()
    upd = st["update"][1:]
    assert upd[rose].min() > 20 * np.median(upd[~rose])
    times = np.loadtxt(out / "rman-fast" / "Alpha_time.txt")
    assert np.all(st["total"] <= times + 1e-3)  # stages are timed inside the runner's per-frame time
    scores = json.loads((out / "report" / "scores.json").read_text())
    s = scores["rman-fast"]["stages"]
    assert s["frames"] == 9 + 7
    assert s["stages"] == ["features", "detect", "collect", "update"]  # the init-only stages are not listed
    beta = read_stages(out / "rman-fast" / "Beta_stages.csv")
    assert s["total_ms"] == pytest.approx(1e3 * np.mean(np.r_[st["total"][1:], beta["total"][1:]]))
    assert s["p50_ms"] <= s["p95_ms"] <= s["max_ms"] and 0 < s["updates_per_100"] < 100
    assert "stages" not in scores["csrt"]
    report = (out / "report" / "report.md").read_text()
    assert "## Time per tracked frame" in report and "| rman-fast |" in report.split("## Time per tracked frame")[1]
    assert (out / "report" / "stages.png").is_file()
    assert "ms/frame: features" in capsys.readouterr().out  # the console summary of `report`
    (out / "rman-fast" / "Beta_stages.csv").write_text("frame,total\n0,0.5\n1\n")  # damaged: ignored
    assert bench_main(["report", "--results", str(out), *common]) == 0
    assert "ignoring" in capsys.readouterr().out
    assert json.loads((out / "report" / "scores.json").read_text())["rman-fast"]["stages"]["frames"] == 9


MODELS = Path(os.environ.get("RMAN_PEER_MODELS", DATA.parent / "models"))


def test_nanotrack_without_its_models_is_skipped_with_a_clear_message(tmp_path, capsys, monkeypatch):
    root = tmp_path / "ds"
    write_otb_sequence(root, "Alpha", n=6, seed=1)
    monkeypatch.delenv("RMAN_PEER_MODELS", raising=False)
    rc = bench_main(["run", "--dataset-root", str(root), "--trackers", "nanotrack,csrt", "--out",
                     str(tmp_path / "out"), "--model-dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 0 and "skipping nanotrack: NanoTrack models" in err and "--model-dir" in err
    assert (tmp_path / "out" / "csrt" / "Alpha.txt").is_file() and not (tmp_path / "out" / "nanotrack").exists()
    rc = bench_main(["run", "--dataset-root", str(root), "--trackers", "nanotrack", "--out", str(tmp_path / "o2"),
                     "--model-dir", str(tmp_path / "nowhere")])
    assert rc == 2 and "no tracker left to run" in capsys.readouterr().err


@pytest.mark.skipif(not (MODELS / "nanotrack_v2").is_dir(), reason=f"NanoTrack models not found at {MODELS}")
def test_nanotrack_tracks_a_moving_square(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    write_otb_sequence(root, "Alpha", n=12, seed=1, size=(160, 200), box=(50.0, 40.0, 40.0, 36.0))
    monkeypatch.setenv("RMAN_PEER_MODELS", str(MODELS))  # found through the environment
    out = tmp_path / "out"
    assert bench_main(["run", "--dataset-root", str(root), "--trackers", "nanotrack", "--out", str(out)]) == 0
    seq = D.load_sequence(root / "Alpha")
    boxes = read_boxes(out / "nanotrack" / "Alpha.txt")
    assert np.mean(M.iou(boxes, seq.gt)) > 0.5


def test_report_states_speed_against_csrt_and_names_the_cpu(tmp_path, capsys):
    from rman_ros.core.runtime import cpu_description

    root = tmp_path / "ds"
    write_otb_sequence(root, "Alpha", n=8, seed=1)
    out = tmp_path / "out"
    assert bench_main(["run", "--dataset-root", str(root), "--trackers", "csrt,mil", "--out", str(out)]) == 0
    assert json.loads((out / "run_summary.json").read_text())["cpu"] == cpu_description()
    capsys.readouterr()
    assert bench_main(["report", "--results", str(out), "--dataset-root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "(1.00x CSRT)" in text and "x CSRT)" in text.split("mil")[1].splitlines()[0]
    assert f"speed measured on {cpu_description()}" in text
    assert "cores;" in cpu_description() and "avx512" in cpu_description()


def test_speed_target_verdict_says_by_how_much_and_where_the_time_goes():
    from rman_ros.bench.stages import speed_verdict

    summary = {"stages": ["features", "detect", "update"], "features_ms": 20.0, "detect_ms": 10.0,
               "update_ms": 70.0, "total_ms": 100.0}
    line = speed_verdict("rman", 10.0, 40.0, 0.6, summary)
    assert "0.25x CSRT" in line and "target 0.6x = 24.0 FPS" in line
    assert "missed by 14.0 FPS" in line and "2.40x faster" in line
    assert line.index("update 70.0 ms (70 %)") < line.index("features 20.0 ms") < line.index("detect 10.0")
    assert speed_verdict("rman", 30.0, 40.0, 0.6, summary).endswith("met")
