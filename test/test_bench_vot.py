"""VOT-2016-style supervised experiment on tiny hand-made cases."""
import numpy as np
import pytest

from rman_ros.bench import vot
from rman_ros.bench.vot import FAIL, INIT, SKIP

GT = np.array([[0, 0, 10, 10]] * 11, float)
FULL = (0.0, 0.0, 10.0, 10.0)  # IoU 1
HALF = (0.0, 0.0, 10.0, 5.0)  # IoU 0.5
TRAJ = [INIT, FULL, HALF, FAIL, SKIP, SKIP, SKIP, SKIP, INIT, FULL, HALF]


def test_accuracy_failures_with_burnin():
    assert vot.failures(TRAJ) == 1
    # burn-in 2 drops frames 0,1 and 8,9; failure frame excluded -> frames 2 and 10
    assert vot.accuracy(TRAJ, GT, burnin=2) == pytest.approx(0.5)
    # no burn-in: frames 1, 2, 9, 10
    assert vot.accuracy(TRAJ, GT, burnin=0) == pytest.approx(0.75)


def test_fragments_and_expected_overlap():
    frags = vot.fragments(TRAJ, GT)
    assert len(frags) == 2
    np.testing.assert_allclose(frags[0][0], [1.0, 0.5, 0.0])
    assert frags[0][1] is True
    np.testing.assert_allclose(frags[1][0], [1.0, 0.5])
    assert frags[1][1] is False
    curve = vot.expected_overlap_curve(frags, 5)
    # Ns=2: both 1.0; Ns=3: both 0.75; Ns=4: only the failed fragment (zero padded): 1.5/3;
    # Ns=5: 1.5/4
    np.testing.assert_allclose(curve[2:], [1.0, 0.75, 0.5, 0.375])
    assert vot.eao(frags, 3, 5) == pytest.approx((0.75 + 0.5 + 0.375) / 3)


class _Scripted:
    """Returns the gt box except on frames listed in ``bad`` (far away -> failure)."""

    created = 0

    def __init__(self, gt, bad):
        self.gt, self.bad = gt, bad
        type(self).created += 1

    def initialize(self, frame, box):
        assert tuple(box) == tuple(self.gt[frame])

    def track(self, frame):
        return (500.0, 500.0, 5.0, 5.0) if frame in self.bad else tuple(self.gt[frame])


def test_run_supervised_resets_five_frames_after_failure():
    gt = np.array([[i, 0, 10, 10] for i in range(20)], float)
    _Scripted.created = 0
    traj = vot.run_supervised(lambda: _Scripted(gt, {3, 17}), list(range(20)), gt)
    assert traj[0] == INIT and traj[3] == FAIL
    assert traj[4:8] == [SKIP] * 4 and traj[8] == INIT
    assert traj[17] == FAIL and all(e == SKIP for e in traj[18:])  # no re-init possible any more
    assert _Scripted.created == 2
    res = vot.evaluate({"s": traj}, {"s": gt}, burnin=1, eao_range=(2, 4))
    assert res["failures_total"] == 2 and res["robustness"] == 2
    assert res["accuracy"] == pytest.approx(1.0)
    # fragments: [1,1,0] failed; [1]*8 + [0] failed -> Ns=2..4: (1+1)/2, (1+1)/2, (2/3+1)/2
    assert res["eao"] == pytest.approx((1 + 1 + (2 / 3 + 1) / 2) / 3)
