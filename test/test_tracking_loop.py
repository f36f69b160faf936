"""The tracking loop and the detector-started tracks without ROS: no rclpy context, no messages. The real
RMANTracker (the small fast config) on synthetic frames; frames are numpy arrays, headers are their stamps."""
import logging
import subprocess
import sys
import threading

import numpy as np
import pytest

from rman_ros.ros import diagnostics as diag
from rman_ros.ros.detector_init import Detection, DetectorInit, best_of_class, box_at
from rman_ros.ros.tracking_loop import IDLE, LOST, TRACKING, TrackingLoop, reported_box
from rman_ros.ros.validation import BoxError
from test_node_support import DT, FAST_TRACKER, T0, synthetic_frame, wait_for

OPTS = {"score_threshold": 0.0, "init_stamp_tolerance": 0.02, "init_nearest_tolerance": 0.5, "buffer_size": 30,
        "warn_throttle": 0.0, "init_class": "", "reinit_from_detector": False, "reinit_lost_s": 2.0,
        "click_box_px": 64}
ROS_PACKAGES = ("rclpy", "rcl_interfaces", "builtin_interfaces", "std_msgs", "sensor_msgs", "vision_msgs",
                "geometry_msgs", "diagnostic_msgs")


class UnusableImage(ValueError):
    kind = "encoding"


def decode(image):
    if not isinstance(image, np.ndarray):
        raise UnusableImage(f"not an image: {image!r}")
    return image


class Results:
    """The loop's on_result: every TrackResult, by stamp."""

    def __init__(self):
        self.all = []
        self._lock = threading.Lock()

    def __call__(self, result):
        with self._lock:
            self.all.append(result)

    def at(self, stamp_ns):
        with self._lock:
            return [r for r in self.all if r.stamp_ns == stamp_ns]

    def wait(self, stamp_ns, pred=lambda r: True, timeout=60.0, what="a result"):
        return wait_for(lambda: [r for r in self.at(stamp_ns) if pred(r)], timeout, what=what)[-1]


class Rig:
    """A started TrackingLoop around a real tracker, fed like the node feeds it."""

    def __init__(self):
        from rman_ros.core import RMANConfig, RMANTracker

        self.results = Results()
        self.problems = diag.Problems(logging.getLogger("test_tracking_loop"))
        config = RMANConfig().replace(**FAST_TRACKER, device="cpu")
        self.loop = TrackingLoop(config, OPTS, self.results, self.problems, decode=decode)
        self.loop.start(RMANTracker(config), {"device": "cpu"})
        self.t = T0

    def stamp(self):
        self.t += DT
        return self.t

    def frame(self, rgb, t=None, wait=True):
        t = self.stamp() if t is None else t
        self.loop.push_frame(t, t, rgb, rgb.shape[:2])
        return self.results.wait(t, what=f"the result of frame {t}") if wait else t

    def start_track(self, i=0, box=None):
        rgb, gt = synthetic_frame(i)
        t = self.stamp()
        self.frame(rgb, t)
        before = self.loop.track.track_id
        self.loop.request_init(box or gt, t)
        return self.results.wait(t, lambda r: r.init and r.track_id == before + 1, what="the init result")

    def count(self, kind):
        return self.problems.log.snapshot().get(kind, 0)

    def idle(self):
        if self.loop.track.tracking:
            self.loop.reset()


@pytest.fixture(scope="module")
def rig():
    import torch

    threads = torch.get_num_threads()
    r = Rig()
    yield r
    r.loop.stop(wait=True)
    torch.set_num_threads(threads)


class HeldCall:
    """Holds the worker inside tracker.<name> until `release` is set (a race without timing)."""

    def __init__(self, tracker, name):
        self.tracker, self.name, self.real = tracker, name, getattr(tracker, name)
        self.entered, self.release = threading.Event(), threading.Event()

    def __enter__(self):
        def held(*args):
            self.entered.set()
            assert self.release.wait(60), "the test never released the call"
            return self.real(*args)

        setattr(self.tracker, self.name, held)
        return self

    def __exit__(self, *exc):
        self.release.set()
        delattr(self.tracker, self.name)  # the class method again


def _iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_the_loop_imports_no_ros():
    """The tracking loop and the detector policy load without rclpy or any message package."""
    code = ("import sys, rman_ros.ros.tracking_loop, rman_ros.ros.detector_init; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))")
    out = subprocess.run([sys.executable, "-c", code, *ROS_PACKAGES], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_reported_box_is_the_box_while_tracking_at_or_over_the_threshold():
    res = {"box": (1, 2, 3, 4), "score": 0.5, "state": TRACKING}
    assert reported_box(res, 0.5) == (1.0, 2.0, 3.0, 4.0)
    assert reported_box(res, 0.6) is None
    assert reported_box(dict(res, state=LOST), 0.0) is None


def test_init_on_its_frame_then_tracking(rig):
    rig.idle()
    before = rig.loop.track.track_id
    init = rig.start_track(0)
    assert init.track_id == before + 1 and init.state == TRACKING and init.score == 1.0
    assert init.header == init.stamp_ns  # the frame's header comes back
    assert np.allclose(init.box, synthetic_frame(0)[1])
    ious = []
    for i in range(1, 8):
        rgb, gt = synthetic_frame(i)
        r = rig.frame(rgb)
        assert r.track_id == init.track_id and r.state in (TRACKING, LOST) and not r.init
        if r.box is not None:
            ious.append(_iou(r.box, gt))
    assert len(ious) >= 5 and np.mean(ious) > 0.3, ious
    values = rig.loop.values()
    assert values["state"] in (TRACKING, LOST) and values["track_id"] == init.track_id
    assert values["device"] == "cpu" and values["frames_processed"] >= 7
    assert all(values[f"stage_ms_mean.{k}"] > 0 for k in ("features", "detect", "collect", "update"))


def test_zero_stamp_init_starts_on_the_latest_frame(rig):
    rgb, box = synthetic_frame(2)
    t = rig.frame(rgb).stamp_ns
    before = rig.loop.track.track_id
    rig.loop.request_init(box, 0)
    r = rig.results.wait(t, lambda r: r.init, what="the init result on the latest frame")
    assert r.track_id == before + 1


def test_init_before_its_frame_waits_for_it(rig):
    rgb, box = synthetic_frame(3)
    rig.frame(rgb)
    t = rig.stamp()
    rig.loop.request_init(box, t)  # its frame comes afterwards
    rig.frame(rgb, t, wait=False)
    assert rig.results.wait(t, lambda r: r.init, what="the init result").box == pytest.approx(box)


def test_init_with_no_frame_at_all_starts_on_the_next_one(rig):
    rig.idle()
    rig.loop.buffer.clear()
    before = rig.count("init_before_image")
    rgb, box = synthetic_frame(0)
    rig.loop.request_init(box, rig.t + 10 * DT)
    wait_for(lambda: rig.count("init_before_image") > before, 10, what="init_before_image")  # after INIT_WAIT_S
    assert not rig.loop.track.tracking
    t = rig.frame(rgb, wait=False)
    assert rig.results.wait(t, lambda r: r.init, what="the init result on the next frame").box == pytest.approx(box)


def test_reset_during_an_init_wins(rig):
    rig.idle()
    rgb, box = synthetic_frame(0)
    t = rig.frame(rgb).stamp_ns
    generation = rig.loop.track.generation
    with HeldCall(rig.loop.tracker, "initialize") as held:
        rig.loop.request_init(box, t)
        assert held.entered.wait(60)
        assert rig.loop.reset() == "pending init cancelled"
        assert rig.loop.track.generation == generation + 1
        held.release.set()
        wait_for(lambda: not rig.loop.init_running, 60, what="the worker done with the init")
    r = rig.frame(rgb)
    assert r.box is None and r.state == IDLE
    assert not [x for x in rig.results.at(t) if x.init]


def test_reset_while_a_frame_is_tracked_drops_its_result(rig):
    rig.start_track(0)
    rgb, _ = synthetic_frame(1)
    with HeldCall(rig.loop.tracker, "track") as held:
        t = rig.frame(rgb, wait=False)
        assert held.entered.wait(60)
        assert "stopped" in rig.loop.reset()
        held.release.set()
        r = rig.results.wait(t, what="the held frame's result")
    assert r.box is None and r.state == IDLE and rig.loop.values()["state"] == IDLE
    assert rig.loop.reset() == "already idle" and rig.count("reset_while_idle") >= 1


def test_featureless_frames_are_lost_and_the_loss_is_timed_in_frame_stamps(rig):
    init = rig.start_track(0)
    black = np.zeros_like(synthetic_frame(0)[0])
    first = rig.frame(black)
    assert first.state == LOST and first.box is None and first.track_id == init.track_id
    assert rig.loop.track.lost_since_ns == first.stamp_ns
    for _ in range(3):
        r = rig.frame(black)
    assert r.state == LOST and rig.loop.values()["state"] == LOST
    assert rig.loop.track.lost_for_s() == pytest.approx(3 * DT * 1e-9)


@pytest.mark.parametrize("size", [(2.0, 2.0), (3.0, 40.0)])
def test_an_init_box_under_min_box_px_is_refused_and_the_track_goes_on(rig, size):
    init = rig.start_track(0)
    head = rig.loop.tracker.updater.front
    before = rig.count("init_box_size")
    rgb, _ = synthetic_frame(1)
    t = rig.frame(rgb).stamp_ns
    rig.loop.request_init((10.0, 10.0) + size, t)
    wait_for(lambda: rig.count("init_box_size") > before, 10, what="init_box_size")
    r = rig.frame(synthetic_frame(2)[0])
    assert r.track_id == init.track_id and rig.loop.tracker.updater.front is head


def test_an_init_the_tracker_rejects_keeps_the_track(rig, monkeypatch):
    init = rig.start_track(0)
    before = rig.count("init_rejected")

    def reject(rgb, box):
        raise ValueError("no texture in the box")

    monkeypatch.setattr(rig.loop.tracker, "initialize", reject)
    rgb, box = synthetic_frame(1)
    t = rig.frame(rgb).stamp_ns
    rig.loop.request_init(box, t)
    wait_for(lambda: rig.count("init_rejected") > before, 10, what="init_rejected")
    monkeypatch.undo()
    r = rig.frame(synthetic_frame(2)[0])
    assert r.track_id == init.track_id and rig.loop.track.tracking


def test_a_new_image_size_ends_the_track_and_an_unusable_image_is_dropped(rig):
    rig.start_track(0)
    before = rig.count("image_size_changed")
    r = rig.frame(synthetic_frame(1, h=140, w=200)[0])
    assert r.box is None and r.state == IDLE and rig.count("image_size_changed") == before + 1
    assert not rig.loop.track.tracking
    before = rig.count("image_encoding")
    rig.loop.push_frame(rig.stamp(), None, "yuv422 bytes")
    wait_for(lambda: rig.count("image_encoding") > before, 10, what="image_encoding")
    rig.frame(synthetic_frame(0)[0])  # the loop goes on


def test_runtime_changes_are_applied_between_frames(rig):
    rig.start_track(0)
    rig.loop.set_params({"n_candidates": 48}, {"score_threshold": 1.0})
    r = rig.frame(synthetic_frame(1)[0])
    assert rig.loop.config.n_candidates == 48 and rig.loop.tracker.cfg.n_candidates == 48
    assert r.box is None and r.state in (TRACKING, LOST)  # no track() score reaches 1
    rig.loop.set_params({"n_candidates": FAST_TRACKER["n_candidates"]}, {"score_threshold": 0.0})
    rig.frame(synthetic_frame(2)[0])
    assert rig.loop.opts["score_threshold"] == 0.0


# ---------------------------------------------------------------- detector-started tracks
PERSON_A, PERSON_B, CAR = (20.0, 30.0, 30.0, 24.0), (100.0, 60.0, 40.0, 30.0), (60.0, 50.0, 50.0, 40.0)


def _dets():
    return [Detection(CAR, (("car", 0.99),)), Detection(PERSON_A, (("person", 0.6),)),
            Detection(PERSON_B, (("dog", 0.95), ("person", 0.8)))]


def test_best_of_class_and_box_at():
    dets = _dets()
    assert best_of_class(dets, "person") == (dets[2], 0.8)
    assert best_of_class(dets, "car")[0] is dets[0] and best_of_class(dets, "bus") is None
    assert box_at(dets, 105.0, 65.0) is dets[2]  # inside PERSON_B and CAR: the smaller one
    assert box_at(dets, 5.0, 5.0) is None
    assert Detection((0, 0, 1, 1)).best() == ("", 1.0) and dets[2].best() == ("dog", 0.95)


@pytest.fixture
def detector(rig):
    rig.idle()
    rig.loop.set_params({}, {"init_class": "", "reinit_from_detector": False, "reinit_lost_s": 0.05})
    rig.frame(synthetic_frame(0)[0])  # applied
    yield DetectorInit(rig.loop)
    rig.loop.set_params({}, dict(OPTS))
    rig.frame(synthetic_frame(0)[0])


def _with(rig, **opts):
    rig.loop.set_params({}, opts)
    return rig.frame(synthetic_frame(0)[0])


def test_an_idle_tracker_starts_on_the_best_detection_of_init_class(rig, detector):
    t = rig.frame(synthetic_frame(0)[0]).stamp_ns
    assert detector.on_detections(t, _dets()) is None  # init_class '' = off
    _with(rig, init_class="person")
    t = rig.frame(synthetic_frame(0)[0]).stamp_ns
    before = rig.loop.track.track_id
    assert detector.on_detections(t, [d for d in _dets() if d.box != PERSON_B][:1]) is None  # no person
    detector.on_detections(t, _dets())
    r = rig.results.wait(t, lambda r: r.init, what="the detector's init")
    assert r.box == pytest.approx(PERSON_B) and r.track_id == before + 1
    assert rig.loop.track.class_id == "person"
    assert detector.on_detections(t, _dets()) is None  # tracking: nothing new


@pytest.mark.parametrize("reinit", [True, False])
def test_a_lost_track_restarts_from_the_detector_only_when_enabled(rig, detector, reinit):
    _with(rig, init_class="person", reinit_from_detector=reinit)
    t = rig.frame(synthetic_frame(0)[0]).stamp_ns
    detector.on_detections(t, _dets())
    first = rig.results.wait(t, lambda r: r.init, what="the first track").track_id
    black = np.zeros_like(synthetic_frame(0)[0])
    for _ in range(4):  # lost for 3 frame periods (0.1 s) > reinit_lost_s
        r = rig.frame(black)
    assert r.state == LOST and rig.loop.track.lost_for_s() > 0.05
    t = rig.stamp()  # the detection's frame comes after it: the decision is taken while the track is lost
    request = detector.on_detections(t, [Detection(PERSON_A, (("person", 0.7),))])
    rig.frame(synthetic_frame(0)[0], t, wait=False)
    if reinit:
        r = rig.results.wait(t, lambda r: r.init, what="the re-init")
        assert r.track_id == first + 1 and r.box == pytest.approx(PERSON_A) and "lost for" in request[3]
    else:
        assert request is None
        rig.results.wait(t)
        assert rig.loop.track.track_id == first


def test_a_click_takes_the_detector_box_under_it_or_a_click_box(rig, detector):
    t = rig.frame(synthetic_frame(0)[0]).stamp_ns
    detector.on_detections(t, _dets())
    assert not rig.loop.track.tracking  # init_class '': no track from the detector alone
    before = rig.loop.track.track_id
    box, stamp, class_id, _ = detector.on_point(t, 105.0, 65.0)
    r = rig.results.wait(t, lambda r: r.init, what="the click init")
    assert r.box == pytest.approx(PERSON_B) and (stamp, class_id) == (t, "dog") and r.track_id == before + 1
    t2 = rig.frame(synthetic_frame(0)[0]).stamp_ns
    detector.on_point(t2, 150.0, 10.0)  # no box there: a 64 px square, clipped to the 160x120 image
    r = rig.results.wait(t2, lambda r: r.init, what="the click-box init")
    assert r.box == pytest.approx((118.0, 0.0, 42.0, 42.0)) and r.track_id == before + 2
    assert rig.loop.track.class_id == ""
    with pytest.raises(BoxError):
        detector.on_point(t2, float("nan"), 5.0)
