"""Dataset layouts and loaders: tiny synthetic folders plus the real shared data when present."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from rman_ros.bench import datasets as D
from rman_ros.bench.synthetic import write_otb_sequence
from rman_ros.io import read_image, write_text_atomic


def _data_dir() -> Path:
    env = os.environ.get("RMAN_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


DATA = _data_dir()
needs_data = pytest.mark.skipif(not (DATA / "otb").is_dir(), reason=f"shared data not found at {DATA}")


@pytest.mark.parametrize("sep,newline", [(",", "\n"), ("\t", "\n"), (" ", "\n"), (",", "\r\n")])
def test_otb_separators_and_line_endings(tmp_path, sep, newline):
    folder = write_otb_sequence(tmp_path, "Seq", n=5, sep=sep, newline=newline)
    seq = D.load_sequence(folder)
    assert seq.name == "Seq" and len(seq.frames) == 5
    assert seq.gt.shape == (5, 4) and seq.gt.dtype == np.float64
    np.testing.assert_allclose(seq.gt[1], [32, 21, 24, 20])


def test_grayscale_frames_read_as_rgb(tmp_path):
    folder = write_otb_sequence(tmp_path, "Gray", n=3, gray=True)
    raw = cv2.imread(str(folder / "img" / "0001.jpg"), cv2.IMREAD_UNCHANGED)
    assert raw.ndim == 2
    img = read_image(folder / "img" / "0001.jpg")
    assert img.shape == raw.shape + (3,) and img.dtype == np.uint8
    assert np.array_equal(img[:, :, 0], img[:, :, 2])


def test_missing_frame_is_a_clear_error(tmp_path):
    folder = write_otb_sequence(tmp_path, "Gap", n=6)
    (folder / "img" / "0003.jpg").unlink()
    with pytest.raises(D.SequenceError, match="missing frame 3"):
        D.load_sequence(folder)


def test_fewer_gt_lines_than_frames_is_an_error(tmp_path):
    folder = write_otb_sequence(tmp_path, "Short", n=6, gt_lines=4)
    with pytest.raises(D.SequenceError, match="fewer gt lines"):
        D.load_sequence(folder)


def test_unreadable_image_raises(tmp_path):
    folder = write_otb_sequence(tmp_path, "Bad", n=3)
    (folder / "img" / "0002.jpg").write_bytes(b"not a jpeg")
    seq = D.load_sequence(folder)
    with pytest.raises(ValueError, match="cannot decode"):
        read_image(seq.frames[1])


def test_otb_frame_range_exceptions(tmp_path):
    # David: images 0300.. with gt lines mapping to frames 300..
    david = write_otb_sequence(tmp_path, "David", n=5, start=300)
    seq = D.load_sequence(david)
    assert [p.name for p in seq.frames] == [f"{i:04d}.jpg" for i in range(300, 305)]
    # Board: 5-digit names
    board = write_otb_sequence(tmp_path, "Board", n=4, digits=5)
    assert D.load_sequence(board).frames[0].name == "00001.jpg"
    # Tiger1: first 5 frames omitted from the evaluation
    tiger = write_otb_sequence(tmp_path, "Tiger1", n=9)
    t = D.load_sequence(tiger)
    assert len(t.frames) == 4 and t.frames[0].name == "0006.jpg"
    np.testing.assert_allclose(t.gt[0], [40, 25, 24, 20])
    # BlurCar3 starts at frame 3; images before it and after the gt range are not used
    bc = write_otb_sequence(tmp_path, "BlurCar3", n=8, start=3, gt_lines=4)
    for i in (1, 2):
        cv2.imwrite(str(bc / "img" / f"{i:04d}.jpg"), np.zeros((8, 8, 3), np.uint8))
    b = D.load_sequence(bc)
    assert b.frames[0].name == "0003.jpg" and len(b.frames) == 4


def test_two_target_sequences(tmp_path):
    folder = write_otb_sequence(tmp_path, "Jogging", n=4, gt_name="groundtruth_rect.1.txt")
    (folder / "groundtruth_rect.2.txt").write_text("1,2,3,4\n5,6,7,8\n9,10,11,12\n13,14,15,16\n")
    specs = D.discover(tmp_path)
    assert [s.name for s in specs] == ["Jogging-1", "Jogging-2"]
    s2 = D.load_sequence(specs[1])
    np.testing.assert_allclose(s2.gt[-1], [13, 14, 15, 16])
    s2b = D.load_sequence(tmp_path / "Jogging-2")
    np.testing.assert_allclose(s2b.gt, s2.gt)
    assert "OCC" in s2.attributes  # Jogging-2 labels from the attribute data file
    with pytest.raises(D.SequenceError, match="targets"):
        D.load_sequence(folder)
    # a single numbered annotation (OTB-100 Human4 has only groundtruth_rect.2.txt) keeps the folder name
    h4 = write_otb_sequence(tmp_path / "h", "Human4", n=3, gt_name="groundtruth_rect.2.txt")
    assert [(s.name, s.target) for s in D.discover(tmp_path / "h")] == [("Human4", 2)]
    assert len(D.load_sequence(h4).frames) == 3


def test_vot_polygon_becomes_axis_aligned_box(tmp_path):
    folder = tmp_path / "vot" / "ball"
    (folder / "color").mkdir(parents=True)
    for i in range(1, 4):
        cv2.imwrite(str(folder / "color" / f"{i:08d}.jpg"), np.zeros((20, 20, 3), np.uint8))
    (folder / "groundtruth.txt").write_text("1,2,5,2,5,6,1,6\n10,10,14,12,12,16,8,14\n3,3,4,4\n")
    seq = D.load_sequence(folder)
    assert seq.layout == "vot"
    np.testing.assert_allclose(seq.gt, [[1, 2, 4, 4], [8, 10, 6, 6], [3, 3, 4, 4]])


def test_uav_nan_rows_kept_as_nan(tmp_path):
    folder = write_otb_sequence(tmp_path, "uav", n=4)
    (folder / "groundtruth_rect.txt").write_text("1,2,3,4\nNaN,NaN,NaN,NaN\n1,2,3,4\n1,2,3,4\n")
    seq = D.load_sequence(folder)
    assert np.isnan(seq.gt[1]).all() and np.isfinite(seq.gt[[0, 2, 3]]).all()


def test_uav123_official_layout(tmp_path):
    src = write_otb_sequence(tmp_path / "tmp", "car1", n=3, digits=6)
    (tmp_path / "UAV" / "data_seq" / "UAV123").mkdir(parents=True)
    (tmp_path / "UAV" / "anno" / "UAV123").mkdir(parents=True)
    (src / "img").rename(tmp_path / "UAV" / "data_seq" / "UAV123" / "car1")
    (src / "groundtruth_rect.txt").rename(tmp_path / "UAV" / "anno" / "UAV123" / "car1.txt")
    specs = D.discover(tmp_path / "UAV")
    assert [(s.name, s.layout) for s in specs] == [("car1", "uav123")]
    assert len(D.load_sequence(specs[0]).frames) == 3


def test_tc128_got10k_lasot_layouts(tmp_path):
    tc = write_otb_sequence(tmp_path / "tc", "Ball_ce1", n=5, gt_name="Ball_ce1_gt.txt", start=1)
    (tc / "Ball_ce1_frames.txt").write_text("2,4\n")
    (tc / "Ball_ce1_gt.txt").write_text("1,1,5,5\n2,2,5,5\n3,3,5,5\n")
    seq = D.load_sequence(tc)
    assert seq.layout == "tc128" and [p.name for p in seq.frames] == ["0002.jpg", "0003.jpg", "0004.jpg"]

    got = tmp_path / "got" / "val" / "GOT-10k_Val_000001"
    got.mkdir(parents=True)
    for i in range(1, 4):
        cv2.imwrite(str(got / f"{i:08d}.jpg"), np.zeros((10, 10, 3), np.uint8))
    (got / "groundtruth.txt").write_text("1,1,4,4\n1,1,4,4\n1,1,4,4\n")
    (got / "absence.label").write_text("0\n1\n0\n")
    g = D.load_sequence(got)
    assert g.layout == "got10k" and np.isnan(g.gt[1]).all()

    las = tmp_path / "lasot" / "cat" / "cat-1"
    (las / "img").mkdir(parents=True)
    for i in range(1, 3):
        cv2.imwrite(str(las / "img" / f"{i:08d}.jpg"), np.zeros((10, 10, 3), np.uint8))
    (las / "groundtruth.txt").write_text("1,1,4,4\n2,2,4,4\n")
    (las / "full_occlusion.txt").write_text("0,0\n")
    specs = D.discover(tmp_path / "lasot")
    assert [(s.name, s.layout) for s in specs] == [("cat-1", "lasot")]


def test_select_and_sets(tmp_path):
    write_otb_sequence(tmp_path, "Deer", n=3)
    write_otb_sequence(tmp_path, "Woman", n=3)
    specs = D.discover(tmp_path)
    assert [s.name for s in D.select(specs, ["woman"])] == ["Woman"]
    assert [s.name for s in D.select(specs, ["OTB2013"])] == ["Deer", "Woman"]
    with pytest.raises(ValueError, match="not found"):
        D.select(specs, ["Nope"])
    sets = D.sequence_sets()
    assert len(sets["OTB2013"]) == 51 and len(sets["OTB2015"]) == 100
    assert set(sets["OTB2013"]) <= set(sets["OTB2015"])


def test_atomic_writer(tmp_path):
    p = write_text_atomic(tmp_path / "a" / "b.txt", "x\n")
    assert p.read_text() == "x\n"
    assert [q.name for q in p.parent.iterdir()] == ["b.txt"]


def readme_otb_table(readme: Path) -> dict:
    """The OTB sequence table of the shared data README: name -> (gt lines, attributes)."""
    rows = {}
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("## OTB sequences"):]
    section = section[: section.index("\n## ", 4)]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 6 and cells[2].isdigit():
            rows[cells[0]] = (int(cells[2]), [a.strip() for a in cells[6].split(",")])
    return rows


@needs_data
def test_real_otb_sequences():
    """The OTB folder holds what the data README lists: every sequence, its benchmark frame range (gt lines)
    and its attributes (whatever the number of sequences)."""
    table = readme_otb_table(DATA / "README.md")
    specs = D.discover(DATA / "otb")
    assert {s.name for s in specs} == set(table) and len(table) >= 18
    seqs = {s.name: D.load_sequence(s) for s in specs}
    for name, (gt_lines, attributes) in table.items():
        assert len(seqs[name].frames) == gt_lines == seqs[name].gt.shape[0], name
        assert seqs[name].attributes == attributes, name
    assert seqs["David"].frames[0].name == "0300.jpg" and len(seqs["David"].frames) == 471
    assert len(seqs["Football1"].frames) == 74  # 81 images, 74 in the benchmark range
    img = read_image(seqs["Football"].frames[0])
    assert img.ndim == 3 and img.shape[2] == 3


@needs_data
def test_real_uav_sequence():
    specs = D.discover(DATA / "uav123_10fps")
    seq = D.load_sequence(specs[0])
    assert seq.name == "wakeboard7" and len(seq.frames) == 67


def test_attribute_table_covers_every_otb2015_sequence():
    from rman_ros.bench.datasets import attributes_for, sequence_sets

    names = sequence_sets()["OTB2015"]
    assert len(names) == 100
    missing = [n for n in names if not attributes_for(n)]
    assert not missing, f"no attribute labels for {missing}"
    assert attributes_for("Jogging-2") == ["OCC", "DEF", "OPR"]
    assert attributes_for("Box") == ["IV", "SV", "OCC", "MB", "IPR", "OPR", "OV", "BC", "LR"]
