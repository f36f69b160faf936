"""Tracks started the way robot users start them, through the node: a fake detector (a real rclpy publisher
of vision_msgs/Detection2DArray with known boxes, as yolo_ros publishes them) on `detector_detections`, and
clicked points (geometry_msgs/PointStamped) on `init_point`. Real tracker, synthetic frames."""
import numpy as np
import pytest

from test_node_support import harness_fixture, image_msg, stamp, synthetic_frame, wait_for, wait_problem

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

from rclpy.parameter import Parameter  # noqa: E402

h = harness_fixture("detinit")

PERSON_A, PERSON_B, CAR = (20.0, 30.0, 30.0, 24.0), (100.0, 60.0, 40.0, 30.0), (60.0, 50.0, 50.0, 40.0)
DETECTIONS = [(CAR, [("car", 0.99)]), (PERSON_A, [("person", 0.6)]), (PERSON_B, [("dog", 0.95), ("person", 0.8)])]
DEFAULTS = {"init_class": "", "reinit_from_detector": False, "reinit_lost_s": 2.0, "click_box_px": 64}


def detector_array(t_ns, detections):
    """A detector's Detection2DArray stamped `t_ns`: [(box, [(class_id, score), ...]), ...]."""
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray, ObjectHypothesisWithPose

    from rman_ros.ros.conversions import make_init_detection

    arr = Detection2DArray(header=Header(stamp=stamp(t_ns), frame_id="cam"))
    for box, hypotheses in detections:
        det = make_init_detection(box, arr.header)
        for class_id, score in hypotheses:
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = class_id, score
            det.results.append(hyp)
        arr.detections.append(det)
    return arr


class FakeDetector:
    """The test's detector and click publishers, in the node's namespace."""

    def __init__(self, h):
        from geometry_msgs.msg import PointStamped
        from vision_msgs.msg import Detection2DArray

        self.h = h
        self.det_pub = h.client.node.create_publisher(Detection2DArray, "detector_detections", 10)
        self.point_pub = h.client.node.create_publisher(PointStamped, "init_point", 10)
        wait_for(lambda: self.det_pub.get_subscription_count() > 0 and self.point_pub.get_subscription_count() > 0,
                 10.0, what="the node's detector_detections and init_point subscriptions")

    def publish(self, t_ns, detections):
        """Publish an array and wait until the node has decided on it."""
        before = self.h.node.stats()["detector_arrays"]
        self.det_pub.publish(detector_array(t_ns, detections))
        wait_for(lambda: self.h.node.stats()["detector_arrays"] > before, 10.0, what="the detector array handled")

    def click(self, t_ns, x, y):
        from geometry_msgs.msg import PointStamped
        from std_msgs.msg import Header

        msg = PointStamped(header=Header(stamp=stamp(t_ns), frame_id="cam"))
        msg.point.x, msg.point.y = x, y
        self.point_pub.publish(msg)

    def close(self):
        self.h.client.node.destroy_publisher(self.det_pub)
        self.h.client.node.destroy_publisher(self.point_pub)


@pytest.fixture
def detector(h):
    fake = FakeDetector(h)
    _set(h, **DEFAULTS)
    if h.node.stats()["state"] != "idle":
        h.client.reset()
    yield fake
    fake.close()
    _set(h, **DEFAULTS)


def _set(h, **values):
    results = h.node.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    assert all(r.successful for r in results), [r.reason for r in results]
    wait_for(lambda: all(h.node.loop.opts[k] == v for k, v in values.items()), 10.0, what="parameters applied")


def _init_at(h, t, track_id, timeout=60.0):
    """The init result for the frame stamped `t` with `track_id`."""
    arr = wait_for(lambda: [a for a in h.client.det_for(t) if a.detections and a.detections[0].id == str(track_id)],
                   timeout, what=f"track {track_id} starting on frame {t}")[0]
    d = arr.detections[0]
    return (d.bbox.center.position.x - d.bbox.size_x / 2, d.bbox.center.position.y - d.bbox.size_y / 2,
            d.bbox.size_x, d.bbox.size_y)


def test_parameters_have_descriptors_and_are_in_the_params_file(h):
    from pathlib import Path

    from rman_ros.ros.params import params_from_file

    flat = params_from_file(Path(__file__).resolve().parents[1] / "config" / "tracker.yaml")
    for name, default in DEFAULTS.items():
        d = h.node.describe_parameter(name)
        assert d.description and not d.read_only and flat[name] == default, name
    assert h.node.describe_parameter("reinit_lost_s").floating_point_range
    assert h.node.describe_parameter("click_box_px").integer_range
    assert not h.node.set_parameters([Parameter("click_box_px", value=2)])[0].successful


def test_an_idle_tracker_starts_on_the_best_detection_of_init_class(h, detector):
    rgb, _ = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    track_id = h.node.stats()["track_id"]
    detector.publish(t, DETECTIONS)  # init_class '' = off
    _set(h, init_class="person")
    detector.publish(t, DETECTIONS[:1])  # no person
    assert h.client.send_frame(rgb, h.next_stamp()).detections == []
    assert h.node.stats()["state"] == "idle" and h.node.stats()["track_id"] == track_id
    detector.publish(t, DETECTIONS)
    assert _init_at(h, t, track_id + 1) == pytest.approx(PERSON_B)  # person 0.8 over person 0.6 and car 0.99
    arr = h.client.send_frame(synthetic_frame(1)[0], h.next_stamp())
    assert all(d.id == str(track_id + 1) for d in arr.detections)
    detector.publish(h.t, DETECTIONS)  # tracking: the detector starts nothing new
    assert h.client.send_frame(synthetic_frame(2)[0], h.next_stamp()) is not None
    assert h.node.stats()["track_id"] == track_id + 1


@pytest.mark.parametrize("enabled", [True, False], ids=["reinit_enabled", "reinit_disabled"])
def test_a_lost_track_restarts_from_the_detector_only_when_enabled(h, detector, enabled):
    _set(h, init_class="person", reinit_from_detector=enabled, reinit_lost_s=0.05)
    rgb, _ = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    first = h.node.stats()["track_id"] + 1
    detector.publish(t, DETECTIONS)
    _init_at(h, t, first)
    black = np.zeros_like(rgb)
    for _ in range(4):  # featureless frames: lost for 3 frame periods (0.1 s) > reinit_lost_s
        assert h.client.send_frame(black, h.next_stamp()).detections == []
    assert h.node.stats()["state"] == "lost"
    t = h.next_stamp()
    detector.publish(t, [(PERSON_A, [("person", 0.7)])])  # decided while the track is lost
    h.client.image_pub.publish(image_msg(rgb, t))
    if enabled:
        assert _init_at(h, t, first + 1) == pytest.approx(PERSON_A)
    else:
        wait_for(lambda: h.client.det_for(t), 30.0, what="the frame's result")
        assert h.node.stats()["track_id"] == first


def test_a_click_starts_on_the_detector_box_under_it_or_on_a_click_box(h, detector):
    _set(h, click_box_px=50)
    rgb, _ = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    detector.publish(t, DETECTIONS)
    assert h.node.stats()["state"] == "idle"  # init_class '': the detector alone starts nothing
    track_id = h.node.stats()["track_id"]
    detector.click(t, 105.0, 65.0)  # inside PERSON_B and CAR: the smaller box
    assert _init_at(h, t, track_id + 1) == pytest.approx(PERSON_B)
    t2 = h.next_stamp()
    h.client.send_frame(rgb, t2)
    detector.click(t2, 80.0, 20.0)  # no detector box there: a 50 px box around the point
    assert _init_at(h, t2, track_id + 2) == pytest.approx((55.0, 0.0, 50.0, 45.0))  # clipped at the top
    before = h.client.problem_count("init_point_nan")
    detector.click(t2, float("nan"), 20.0)
    wait_problem(h, "init_point_nan", before=before)
    assert h.node.stats()["track_id"] == track_id + 2
