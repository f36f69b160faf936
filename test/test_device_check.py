"""`python -m rman_ros.device_check`: the CPU-vs-device comparisons, the tracking run and the report.
(Here the "device" is the CPU itself; the CUDA run is recorded in docs/BENCHMARKS.md.)"""
import json

import pytest
import torch

from rman_ros import device_check
from rman_ros.bench.synthetic import write_otb_sequence


def test_checks_pass_and_the_tracking_run_is_reported(tmp_path, capsys):
    folder = write_otb_sequence(tmp_path, "Square", n=10)
    out = tmp_path / "check.json"
    assert device_check.main(["--device", "cpu", "--sequence", str(folder), "--frames", "8", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and report["device"] == "cpu"
    assert len(report["checks"]) == 7
    for c in report["checks"]:
        assert c["ok"] and 0 <= c["value"] <= c["tolerance"], c
    (run,) = report["tracking"]
    assert run["frames"] == 8 and len(run["boxes"]) == 8 and run["fps"] > 0
    assert run["auc"] > 0.5, run["auc"]  # the square is kept
    assert {"features", "detect", "collect", "update", "total"} <= set(run["stage_ms"])
    text = capsys.readouterr().out
    assert "all checks passed" in text and "FPS" in text


def test_a_failing_computation_fails_the_check_with_its_message(tmp_path, monkeypatch, capsys):
    def broken(dev):
        raise RuntimeError("no kernel image is available")

    monkeypatch.setattr(device_check, "check_roi_align", broken)
    out = tmp_path / "check.json"
    assert device_check.main(["--device", "cpu", "--out", str(out)]) == 1
    row = next(c for c in json.loads(out.read_text())["checks"] if c["check"].startswith("RoIAlign"))
    assert not row["ok"] and "no kernel image" in row["error"]
    assert "[FAIL] RoIAlign" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_an_unavailable_device_is_a_clear_error(capsys):
    assert device_check.main(["--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_each_config_file_gets_its_own_tracking_run(tmp_path):
    folder = write_otb_sequence(tmp_path, "Square", n=6)
    (tmp_path / "apl_async.yaml").write_text("aggregation: apl\nupdate_mode: async\n")
    (tmp_path / "baseline.yaml").write_text("use_lstm: false\naggregation: none\n")
    out = tmp_path / "check.json"
    args = ["--device", "cpu", "--sequence", str(folder), "--out", str(out),
            "--config", str(tmp_path / "apl_async.yaml"), "--config", str(tmp_path / "baseline.yaml")]
    assert device_check.main(args) == 0
    runs = json.loads(out.read_text())["tracking"]
    assert [r["config"] for r in runs] == ["apl_async", "baseline"]
    assert all(r["frames"] == 6 and r["auc"] > 0.5 for r in runs)


def test_a_bad_config_or_sequence_is_a_clear_error_before_any_work(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("no_such_field: 1\n")
    assert device_check.main(["--device", "cpu", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert device_check.main(["--device", "cpu", "--sequence", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no_such_field" in err and "missing" in err
