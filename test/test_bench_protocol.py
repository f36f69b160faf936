"""The default-selection protocol: the split file and the paired comparison of two result folders."""

import json
import os
from pathlib import Path

import pytest

from rman_ros.bench import datasets as D
from rman_ros.bench import protocol as P
from rman_ros.bench.cli import main as bench_main
from rman_ros.bench.synthetic import write_otb_sequence
from rman_ros.io import format_boxes, write_text_atomic

DATA = Path(os.environ.get("RMAN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_the_repository_split_is_a_balanced_partition():
    split = P.load_split()
    tune, check = set(split["tune"]), set(split["check"])
    assert not tune & check and abs(len(tune) - len(check)) <= 1
    data = json.loads(P.split_path().read_text())
    counts = data["attribute_counts"]
    for a in P.ATTRIBUTES:  # every OTB attribute is in both halves, within one sequence of each other
        assert counts["tune"][a] >= 1 and counts["check"][a] >= 1, a
        assert abs(counts["tune"][a] - counts["check"][a]) <= 1, a
    for name in tune | check:  # the recorded counts are the attribute table's
        assert name == "wakeboard7" or D.attributes_for(name), name
    assert sum(a in D.attributes_for(n) for n in split["tune"] for a in ["OCC"]) == counts["tune"]["OCC"]


def test_split_covers_the_shared_dev_sequences():
    if not (DATA / "otb").is_dir():
        pytest.skip(f"shared data not found at {DATA} (set RMAN_DATA_DIR)")
    specs = {s.name for s in D.discover(DATA)}
    split = P.load_split()
    assert set(split["tune"]) | set(split["check"]) == specs


def test_bad_split_files_are_clear_errors(tmp_path):
    f = tmp_path / "split.json"
    f.write_text(json.dumps({"tune": ["A"], "check": ["A", "B"]}))
    with pytest.raises(ValueError, match="both halves"):
        P.load_split(f)
    f.write_text(json.dumps({"tune": ["A"]}))
    with pytest.raises(ValueError, match="non-empty"):
        P.load_split(f)


def _write_runs(out, label, gts, shifts, seconds=0.1):
    """Runs of a fake tracker: run k puts its boxes `shifts[k][seq]` px right of the ground truth."""
    for k, per_seq in enumerate(shifts, start=1):
        d = out / label if k == 1 else out / label / f"repeat{k}"
        for name, gt in gts.items():
            boxes = gt.copy()
            boxes[1:, 0] += per_seq[name]
            write_text_atomic(d / f"{name}.txt", format_boxes(boxes))
            write_text_atomic(d / f"{name}_time.txt", "".join(f"{seconds}\n" for _ in boxes))


@pytest.fixture
def paired(tmp_path):
    root = tmp_path / "ds"
    for i, name in enumerate(["Alpha", "Beta", "Gamma", "Delta"]):
        write_otb_sequence(root, name, n=6, seed=i)
    gts = {s.name: D.load_sequence(s).gt for s in D.discover(root)}
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"tune": ["Alpha", "Beta"], "check": ["Gamma", "Delta"]}))
    return root, gts, split, tmp_path / "out"


def test_a_candidate_that_helps_both_halves_is_kept(paired):
    root, gts, split, out = paired
    base = [{n: 8.0 for n in gts}] * 6
    cand = [{n: 4.0 + 0.1 * k for n in gts} for k in range(6)]  # closer on every sequence and seed
    _write_runs(out, "rman", gts, base, seconds=0.1)
    _write_runs(out, "rman-new", gts, cand, seconds=0.05)
    _write_runs(out, "csrt", gts, [{n: 2.0 for n in gts}], seconds=0.02)
    cmp = P.compare(out, root, "rman", "rman-new", P.load_split(split), peers=["csrt"])
    assert cmp["runs"]["paired"] == [1, 2, 3, 4, 5, 6]
    assert cmp["verdict"].startswith("keep")
    for h in ("tune", "check"):
        assert cmp["groups"][h]["delta"]["mean"] > 0 and cmp["groups"][h]["delta"]["better"] == 6
    assert cmp["fps"]["rman-new"] == pytest.approx(2 * cmp["fps"]["rman"])
    assert cmp["fps"]["csrt"] == pytest.approx(50.0)
    for h in ("tune", "check"):  # shifted boxes of the right size: no size error; 4-8 px off: on target
        assert cmp["groups"][h]["size_err"] == {"baseline": 0.0, "candidate": 0.0}
        assert cmp["groups"][h]["aspect_err"] == {"baseline": 0.0, "candidate": 0.0}
        assert cmp["groups"][h]["off"]["baseline"] == 0.0
    assert cmp["peers"]["csrt"]["all"] > cmp["groups"]["all"]["candidate"]


def test_a_candidate_that_hurts_one_half_is_rejected_and_too_few_seeds_undecided(paired, capsys):
    root, gts, split, out = paired
    base = [{n: 6.0 for n in gts}] * 6
    cand = [{"Alpha": 2.0, "Beta": 2.0, "Gamma": 9.0, "Delta": 9.0}] * 6  # better on tune, worse on check
    _write_runs(out, "rman", gts, base)
    _write_runs(out, "rman-x", gts, cand)
    cmp = P.compare(out, root, "rman", "rman-x", P.load_split(split))
    assert cmp["verdict"] == "reject: the candidate does not help the check half"
    assert cmp["per_sequence"]["Gamma"]["delta"]["worse"] == 6
    _write_runs(out, "rman-y", gts, cand[:3])
    assert P.compare(out, root, "rman", "rman-y", P.load_split(split))["verdict"].startswith("undecided: 3")
    # the command writes the table, the JSON and the plot
    rc = bench_main(["protocol", "--results", str(out), "--dataset-root", str(root), "--candidate", "rman-x",
                     "--split", str(split)])
    assert rc == 0
    folder = out / "protocol" / "rman-x_vs_rman"
    assert "Verdict: reject" in (folder / "protocol.md").read_text()
    assert json.loads((folder / "protocol.json").read_text())["groups"]["tune"]["delta"]["better"] == 6
    assert (folder / "deltas.png").stat().st_size > 1000
    assert "| Gamma | check |" in capsys.readouterr().out


def test_incomplete_runs_are_not_paired(paired):
    root, gts, split, out = paired
    _write_runs(out, "rman", gts, [{n: 6.0 for n in gts}] * 2)
    _write_runs(out, "rman-z", gts, [{n: 3.0 for n in gts}] * 2)
    (out / "rman-z" / "repeat2" / "Delta.txt").unlink()  # run 2 still running
    cmp = P.compare(out, root, "rman", "rman-z", P.load_split(split))
    assert cmp["runs"]["paired"] == [1] and cmp["runs"]["candidate"] == [1]
    with pytest.raises(FileNotFoundError, match="no results folder"):
        P.compare(out, root, "rman", "missing", P.load_split(split))


def test_a_speed_change_is_kept_when_faster_and_within_the_tolerance(paired):
    root, gts, split, out = paired
    _write_runs(out, "rman", gts, [{n: 6.0 for n in gts}] * 6, seconds=0.1)
    _write_runs(out, "rman-fast", gts, [{n: 6.0 for n in gts}] * 5 + [{n: 7.0 for n in gts}], seconds=0.05)
    _write_runs(out, "rman-worse", gts, [{n: 14.0 for n in gts}] * 6, seconds=0.05)
    _write_runs(out, "rman-slow", gts, [{n: 6.0 for n in gts}] * 6, seconds=0.2)
    sp = P.load_split(split)
    fast = P.compare(out, root, "rman", "rman-fast", sp, speed_change=True)
    assert -0.01 < fast["groups"]["tune"]["delta"]["mean"] < 0  # slightly worse: no accuracy keep
    assert P.compare(out, root, "rman", "rman-fast", sp)["verdict"].startswith("reject")
    assert fast["verdict"].startswith("keep (speed change): 2.00x faster")
    worse = P.compare(out, root, "rman", "rman-worse", sp, speed_change=True)["verdict"]
    assert worse.startswith("reject: 2.00x faster, but the tune and check half")
    slow = P.compare(out, root, "rman", "rman-slow", sp, speed_change=True)["verdict"]
    assert slow == "reject: the speed change is not faster (0.50x)"
    strict = P.compare(out, root, "rman", "rman-fast", sp, speed_change=True, tolerance=0.0)["verdict"]
    assert strict.startswith("reject")
