"""`python -m rman_ros.track` on an OTB folder, an image folder and a video."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from rman_ros.bench.synthetic import moving_square_frames, write_otb_sequence
from rman_ros.io import read_boxes
from rman_ros.track import main as track_main, parse_box

REPO = Path(__file__).resolve().parents[1]


def test_otb_folder_with_video_output(tmp_path, capsys):
    folder = write_otb_sequence(tmp_path, "Square", n=10)
    out, video = tmp_path / "boxes.txt", tmp_path / "vis" / "out.mp4"
    assert track_main([str(folder), "--tracker", "csrt", "--out", str(out), "--video", str(video)]) == 0
    boxes = read_boxes(out)
    assert boxes.shape == (10, 4)
    np.testing.assert_allclose(boxes[0], [30, 20, 24, 20])  # initialised from gt line 1
    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape[:2] == (96, 128) and n == 10
    assert "AUC" in capsys.readouterr().out


def test_image_folder_and_video_need_box(tmp_path):
    folder = write_otb_sequence(tmp_path, "Square", n=6)
    out = tmp_path / "b.txt"
    assert track_main([str(folder / "img"), "--tracker", "mil", "--out", str(out)]) == 2  # no --box
    assert track_main([str(folder / "img"), "--tracker", "mil", "--box", "30,20,24,20", "--out", str(out)]) == 0
    assert read_boxes(out).shape == (6, 4)
    frames, _ = moving_square_frames(8)
    vid = tmp_path / "in.mp4"
    w = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (128, 96))
    for f in frames:
        w.write(f[:, :, ::-1])
    w.release()
    assert track_main([str(vid), "--tracker", "csrt", "--box", "30,20,24,20", "--out", str(out)]) == 0
    assert read_boxes(out).shape == (8, 4)


def test_parse_box_and_errors(tmp_path):
    assert parse_box("1,2.5,3,4") == (1.0, 2.5, 3.0, 4.0)
    with pytest.raises(ValueError):
        parse_box("1,2,3")
    with pytest.raises(ValueError):
        parse_box("1,2,0,4")
    assert track_main([str(tmp_path / "missing"), "--box", "1,2,3,4"]) == 2


def test_module_entry_point_help():
    res = subprocess.run([sys.executable, "-m", "rman_ros.track", "--help"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0 and "--video" in res.stdout


def test_rman_tracker_when_available(tmp_path):
    try:
        from rman_ros.core import RMANTracker  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"rman_ros.core.RMANTracker not available yet: {exc}")
    folder = write_otb_sequence(tmp_path, "Square", n=4)
    out = tmp_path / "boxes.txt"
    cfg = tmp_path / "fast.yaml"  # a cheap configuration: this checks the wiring, not accuracy
    cfg.write_text("n_init_samples: 400\nn_pos_init: 100\ninit_iters: 3\nn_bbreg: 50\nupdate_iters: 2\n"
                   "n_candidates: 32\n")
    assert track_main([str(folder), "--out", str(out), "--config", str(cfg)]) == 0
    assert read_boxes(out).shape == (4, 4)


def test_profile_update_reports_every_training_phase(tmp_path, capsys):
    """`python -m rman_ros.profile_update`: both heads' updates, with time in every phase of an iteration."""
    from rman_ros.core.updater import PHASES
    from rman_ros.profile_update import main as profile_main
    seq = write_otb_sequence(tmp_path, "Square", n=8)
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("n_init_samples: 400\nn_pos_init: 100\ninit_iters: 3\nn_bbreg: 50\nupdate_iters: 4\n"
                   "n_candidates: 32\n")
    assert profile_main([str(seq), "--frames", "6", "--repeats", "2", "--threads", "1", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "4 iterations per update" in out
    sections = out.split("ms per update without the profiler")
    assert "RMAN head" in sections[0] and "memory-free head" in sections[1] and len(sections) == 3
    for sec in sections[1:]:
        rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in sec.splitlines()
                if line.strip() and line.split()[0] in PHASES}
        assert set(rows) == set(PHASES) and all(v[0] > 0 and v[1] == pytest.approx(v[0] / 4, abs=0.03)
                                                 for v in rows.values()), rows
