"""RMANTracker.initialize builds the new model beside the running one: a failed initialize leaves the
previous track exactly as it was (issue 30, fault 4c). Sync updates and one thread, so two trackers in
this process give the same boxes for the same frames (no dependence on timing or the instruction set)."""
import numpy as np
import pytest
import torch

from rman_ros.core import RMANConfig, RMANTracker
from test_node_support import FAST_TRACKER, synthetic_frame

CFG = {**FAST_TRACKER, "device": "cpu", "update_mode": "sync", "update_interval": 3}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _boxes(tracker, frames):
    return [tracker.track(synthetic_frame(i)[0])["box"] for i in frames]


def _started():
    """A tracker initialised on frame 0."""
    tracker = RMANTracker(RMANConfig().replace(**CFG))
    rgb, box = synthetic_frame(0)
    tracker.initialize(rgb, box)
    return tracker


def _reference(frames):
    ref = _started()
    try:
        return _boxes(ref, frames)
    finally:
        ref.close()


@pytest.mark.parametrize("bad_box", [(40.0, 40.0, 2.0, 2.0), (40.0, 40.0, 3.0, 3.0), (0.0, 40.0, 150.0, 2.0)])
def test_a_failed_initialize_leaves_the_running_track_untouched(one_thread, bad_box):
    ref = _reference(range(1, 9))
    tracker = _started()
    try:
        before = _boxes(tracker, range(1, 5))
        head, hist, mean = tracker.updater.front, list(tracker.hist), tracker.features.mean
        with pytest.raises(ValueError):  # the tiny box fails deep inside the sampling
            tracker.initialize(synthetic_frame(4)[0], bad_box)
        assert tracker.updater.front is head and tracker.features.mean is mean
        assert all(a is b for a, b in zip(tracker.hist, hist)) and tracker.frame_idx == 4
        after = _boxes(tracker, range(5, 9))
    finally:
        tracker.close()
    np.testing.assert_allclose(np.array(before + after), np.array(ref), rtol=0, atol=1e-4)


def test_a_failure_late_in_initialize_restores_everything(one_thread, monkeypatch):
    """A failure after the projection, the regressor and the head were built (in the sample pools)."""
    import rman_ros.core.tracker as tracker_mod

    ref = _reference(range(1, 7))
    tracker = _started()
    try:
        before = _boxes(tracker, range(1, 4))
        state = {k: tracker.__dict__.get(k) for k in RMANTracker._TRACK_STATE}
        feats = {k: getattr(tracker.features, k) for k in RMANTracker._FEATURE_STATE}

        def boom(*args, **kwargs):
            raise RuntimeError("injected failure")

        monkeypatch.setattr(tracker_mod, "SamplePools", boom)
        with pytest.raises(RuntimeError, match="injected"):
            tracker.initialize(synthetic_frame(3)[0], (60.0, 40.0, 30.0, 30.0))
        monkeypatch.undo()
        assert all(tracker.__dict__.get(k) is v for k, v in state.items())
        assert all(getattr(tracker.features, k) is v for k, v in feats.items())
        after = _boxes(tracker, range(4, 7))
        # and a later good initialize still works
        rgb, box = synthetic_frame(0)
        assert tracker.initialize(rgb, box)["box"] == tuple(float(v) for v in box)
    finally:
        tracker.close()
    np.testing.assert_allclose(np.array(before + after), np.array(ref), rtol=0, atol=1e-4)


def test_a_failed_first_initialize_leaves_the_tracker_uninitialised(one_thread):
    tracker = RMANTracker(RMANConfig().replace(**CFG))
    try:
        with pytest.raises(ValueError):
            tracker.initialize(synthetic_frame(0)[0], (40.0, 40.0, 2.0, 2.0))
        assert not tracker.initialized and tracker.updater is None
        with pytest.raises(ValueError, match="before initialize"):
            tracker.track(synthetic_frame(1)[0])
    finally:
        tracker.close()
