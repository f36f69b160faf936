"""Distractor crossings: the clips' geometry and pixels, their scores, and the command end to end."""
import json

import numpy as np
import pytest

from rman_ros.bench import crossing as X
from rman_ros.bench import datasets as D
from rman_ros.bench.cli import main as bench_main
from rman_ros.bench.synthetic import write_otb_sequence
from rman_ros.io import read_boxes, read_image

SMALL = X.Timing(pre=3, cross=4, post=3)


def _centre(box):
    return np.asarray(box[:2]) + np.asarray(box[2:]) / 2


def _write_pair(root, n):
    write_otb_sequence(root, "Host", n=n, seed=1, box=(50.0, 40.0, 20.0, 16.0), step=(0.2, 0.1))
    write_otb_sequence(root, "Donor", n=n, seed=2, box=(10.0, 10.0, 24.0, 20.0), step=(0.0, 0.0))
    path = root / "pairs.json"
    path.write_text(json.dumps({"pairs": [{"host": "Host", "donor": "Donor", "donor_frame": 1}]}))
    return path


def test_the_distractor_walks_in_covers_the_target_and_walks_on():
    target = np.array([100.0, 50.0, 20.0, 40.0])
    for d in (1, -1):
        start, mid, end, later = (X.distractor_box(target, t, d) for t in (0.0, 0.5, 1.0, 2.0))
        assert np.allclose(start[2:], target[2:] * 1.1)
        assert _centre(start)[1] == _centre(target)[1]
        assert np.allclose(_centre(mid), _centre(target))  # in front of the target half-way
        # clear of the target at both ends, on opposite sides, and further away afterwards
        assert X.iou(start[None], target[None])[0] == 0 and X.iou(end[None], target[None])[0] == 0
        assert np.sign(_centre(start)[0] - _centre(target)[0]) == -d
        assert np.sign(_centre(end)[0] - _centre(target)[0]) == d
        assert abs(_centre(later)[0] - _centre(target)[0]) > abs(_centre(end)[0] - _centre(target)[0])


def test_paste_covers_the_box_core_and_fades_out_at_its_corners():
    image = np.zeros((60, 80, 3), np.uint8)
    patch = np.full((10, 10, 3), 200, np.uint8)
    out = X.paste(image, patch, np.array([20.0, 10.0, 30.0, 40.0]))
    assert out[30, 35].tolist() == [200, 200, 200]  # the centre
    assert out[10, 20].tolist() == [0, 0, 0]  # a corner of the box: the donor's background fades out
    assert out[5:, :20].max() == 0 and out[:, 51:].max() == 0  # nothing outside the box
    assert image.max() == 0  # the input is not modified
    part = X.paste(image, patch, np.array([-15.0, -20.0, 30.0, 40.0]))  # partly outside the image
    assert part[0, 0].tolist() == [200, 200, 200] and part[:, 20:].max() == 0


def test_a_clip_is_the_host_with_the_distractor_walking_across_in_front(tmp_path):
    pairs = _write_pair(tmp_path / "ds", SMALL.frames)
    crossing = X.load_crossings(pairs)[0]
    specs = {s.name: s for s in D.discover(tmp_path / "ds")}
    folder = X.build_clip(crossing, specs, tmp_path / "clips", SMALL)
    host = D.load_sequence(specs["Host"])
    clip = D.load_sequence(folder)
    dist = read_boxes(folder / X.DISTRACTOR_FILE)
    assert len(clip.frames) == SMALL.frames
    assert np.allclose(clip.gt, host.gt[:SMALL.frames], atol=1e-3)
    assert not dist[:SMALL.pre].any() and (dist[SMALL.pre:, 2:] > 0).all()
    for i in range(SMALL.frames):
        a = read_image(clip.frames[i]).astype(float)
        b = read_image(host.frames[i]).astype(float)
        if i < SMALL.pre:
            assert np.abs(a - b).mean() < 2.0  # the host's frame (JPEG re-encoded)
        else:
            x, y = (int(v) for v in _centre(dist[i]))
            inside = (0 <= x < a.shape[1]) and (0 <= y < a.shape[0])
            assert not inside or np.abs(a[y, x] - b[y, x]).max() > 0
    half = SMALL.pre + SMALL.cross // 2  # half-way: the distractor hides the target's centre
    x, y = (int(v) for v in _centre(clip.gt[half]))
    assert np.abs(read_image(clip.frames[half]).astype(float)[y, x]
                  - read_image(host.frames[half]).astype(float)[y, x]).max() > 10
    assert X.build_clip(crossing, specs, tmp_path / "clips", SMALL) == folder  # a complete clip is kept


def test_scores_tell_a_tracker_that_stays_from_one_that_leaves_with_the_distractor():
    gt = np.tile([100.0, 50.0, 20.0, 40.0], (SMALL.frames, 1))
    dist = np.zeros_like(gt)
    for i in range(SMALL.pre, SMALL.frames):
        dist[i] = X.distractor_box(gt[i], (i - SMALL.pre) / SMALL.cross, 1, SMALL)
    follower = np.where(dist[:, 2:3] > 0, dist, gt)
    assert X.clip_scores(gt, gt, dist, SMALL) == {"on_target": 1.0, "on_distractor": 0.0}
    assert X.clip_scores(follower, gt, dist, SMALL) == {"on_target": 0.0, "on_distractor": 1.0}


def test_the_crossing_command_tracks_every_clip_scores_it_and_resumes(tmp_path, capsys):
    pairs = _write_pair(tmp_path / "ds", X.Timing().frames)
    out = tmp_path / "out"
    args = ["crossing", "--dataset-root", str(tmp_path / "ds"), "--crossings", str(pairs), "--trackers", "csrt",
            "--out", str(out)]
    assert bench_main(args) == 0
    scores = json.loads((out / "crossing_scores.json").read_text())
    assert set(scores["csrt"]["clips"]) == {"Host_x_Donor_R", "Host_x_Donor_L"}
    assert scores["csrt"]["runs"] == 2
    assert 0.0 <= scores["csrt"]["on_target"] <= 1.0
    assert (out / "crossing.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Host_x_Donor_R" in printed and "kept" in printed
    assert bench_main(args) == 0
    assert "2 skipped" in capsys.readouterr().out


def test_the_crossings_file_names_development_sequences_long_enough(data_dir):
    specs = {s.name: s for s in D.discover(data_dir)}
    crossings = X.load_crossings()
    assert len(crossings) == 16
    for c in crossings[::2]:
        host, donor = D.load_sequence(specs[c.host]), D.load_sequence(specs[c.donor])
        assert len(host.frames) >= X.Timing().frames
        assert np.isfinite(host.gt[:X.Timing().frames]).all()
        assert 0 <= c.donor_frame < len(donor.frames) and (donor.gt[c.donor_frame][2:] > 0).all()


def test_a_host_without_a_target_box_in_the_clip_s_frames_is_refused_by_name(tmp_path):
    pairs = _write_pair(tmp_path / "ds", SMALL.frames)
    gt_file = tmp_path / "ds" / "Host" / "groundtruth_rect.txt"
    lines = gt_file.read_text().splitlines()
    lines[5] = "0,0,0,0"  # the target out of view on frame 6
    gt_file.write_text("\n".join(lines) + "\n")
    specs = {s.name: s for s in D.discover(tmp_path / "ds")}
    with pytest.raises(ValueError, match="Host_x_Donor_R.*without a target box"):
        X.build_clip(X.load_crossings(pairs)[0], specs, tmp_path / "clips", SMALL)
    assert not (tmp_path / "clips" / "Host_x_Donor_R" / "groundtruth_rect.txt").exists()
