"""In-process node tests: the lifecycle node and a client node in one rclpy context on loopback.

Covers the interface (names, headers, ids, labels, scores), parameters, QoS, re-init, reset and
the bad-input list. Uses the real RMANTracker with a small/fast configuration.
"""
import math
import random
import threading
import time

import numpy as np
import pytest

from test_node_support import (DT, T0, Harness, debug_images, harness_fixture, image_msg, init_msg,
                               status_value as _value, synthetic_frame, tracker_overrides as _overrides,
                               wait_for, wait_problem as _wait_problem)

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

from rclpy.parameter import Parameter  # noqa: E402

from rman_ros.ros.tracker_node import TrackerNode, apply_config, autostart  # noqa: E402

h = harness_fixture("inproc")


# -- order matters for the first test only: it needs a node that has seen no image yet
def test_init_before_any_image_starts_on_the_next_frame(h):
    rgb, box = synthetic_frame(0)
    before = h.client.problem_count("init_before_image")
    h.client.init_pub.publish(init_msg(box, 0))
    _wait_problem(h, "init_before_image", before=before)  # no image within INIT_WAIT_S: a warning
    assert h.node.stats()["state"] == "idle"
    t = h.next_stamp()
    h.client.image_pub.publish(image_msg(rgb, t))
    arr = wait_for(lambda: [a for a in h.client.det_for(t) if a.detections], 60.0,
                   what="init result on the next frame")[0]
    assert np.allclose([arr.detections[0].bbox.size_x, arr.detections[0].bbox.size_y], box[2:])
    assert "stopped" in h.client.reset().message


def test_idle_output_and_diagnostics_ok(h):
    rgb, _ = synthetic_frame(0)
    t = h.next_stamp()
    arr = h.client.send_frame(rgb, t, frame_id="cam_idle")
    assert arr.detections == [] and arr.header.frame_id == "cam_idle"
    st = wait_for(lambda: [s for s in h.client.diagnostics if _value(s, "state") == "idle"], 5.0,
                  what="idle diagnostics")[-1]
    assert st.name == f"/{h.node.get_namespace().strip('/')}/rman_tracker: tracker"
    for key in ("input_rate_hz", "processed_rate_hz", "latency_ms_p50", "frames_dropped", "score",
                "updates_done", "device", "track_id"):
        assert _value(st, key) is not None, key
    assert _value(st, "device") == "cpu"
    assert _value(st, "matmul_backend") in ("mkl", "onednn")
    assert _value(st, "torch_threads") == "1"  # tracker.num_threads: 1 in these tests


def test_parameters_descriptors_readonly_and_runtime(h):
    node = h.node
    d = node.describe_parameter("tracker.n_candidates")
    assert d.description and d.integer_range and not d.read_only
    assert node.describe_parameter("tracker.K").read_only
    assert node.describe_parameter("device").read_only
    res = node.set_parameters([Parameter("tracker.K", value=3)])[0]
    assert not res.successful
    res = node.set_parameters([Parameter("tracker.n_candidates", value=0)])[0]
    assert not res.successful  # out of range
    res = node.set_parameters([Parameter("tracker.success_threshold", value=1.5)])[0]
    assert not res.successful
    res = node.set_parameters([Parameter("tracker.n_candidates", value=48)])[0]
    assert res.successful
    # applied between frames by the worker
    h.client.send_frame(synthetic_frame(0)[0], h.next_stamp())
    wait_for(lambda: node.loop.config.n_candidates == 48, 5.0, what="runtime parameter applied")
    assert node.loop.tracker.cfg.n_candidates == 48  # reached the tracker itself
    assert node.set_parameters([Parameter("label", value="target")])[0].successful


def test_runtime_change_reaches_a_tracker_loaded_with_resolved_device_and_threads():
    """The node's config keeps device=auto and num_threads=0; the tracker got the resolved values at load
    time. A runtime change must still be accepted by the tracker (set_config refuses changed fixed fields)."""
    import torch
    from rman_ros.core import RMANConfig, RMANTracker
    from test_node_support import FAST_TRACKER as fast
    before = torch.get_num_threads()
    try:
        tracker = RMANTracker(RMANConfig().replace(**{**fast, "device": "cpu", "num_threads": 1}))
        apply_config(tracker, {"n_candidates": 48, "update_interval": 7})
    finally:
        torch.set_num_threads(before)
    assert (tracker.cfg.n_candidates, tracker.cfg.update_interval) == (48, 7)
    assert (tracker.cfg.device, tracker.cfg.num_threads) == ("cpu", 1)
    tracker.close()


def test_node_splits_the_cpu_threads_when_updates_run_in_the_background():
    """tracker.num_threads 0 with async updates on CPU: the tracker gets half of torch's threads (at least
    1) for the frame thread and as many for the training thread; the count is in /diagnostics."""
    import torch
    from rman_ros.core import RMANTracker
    from rman_ros.ros.params import torch_threads
    seen = []

    def factory(cfg):
        seen.append(cfg)
        return RMANTracker(cfg)
    before = torch.get_num_threads()
    torch.set_num_threads(4)  # what the node finds (its tests otherwise run with 1 thread)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = TrackerNode(context=ctx, tracker_factory=factory, namespace=f"thr_{random.randint(0, 1 << 30)}",
                       parameter_overrides=_overrides({"tracker.num_threads": 0, "tracker.update_mode": "async"}))
    try:
        assert autostart(node)
        expected = torch_threads(0, "cpu", "async", 4)
        assert expected == 2
        assert [c.num_threads for c in seen] == [expected] and node.loop.config.num_threads == 0
        assert torch.get_num_threads() == expected and node.stats()["torch_threads"] == expected
    finally:
        node.shutdown_worker()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        torch.set_num_threads(before)


def test_tracking_headers_ids_and_labels(h):
    rgb0, box0 = synthetic_frame(0)
    t0 = h.next_stamp()
    h.client.send_frame(rgb0, t0, frame_id="cam_a")
    init_arr = h.client.send_init(box0, t0)
    det = init_arr.detections[0]
    track_id = int(det.id)
    assert init_arr.header.frame_id == "cam_a"
    assert np.allclose([det.bbox.size_x, det.bbox.size_y], box0[2:])
    ious = []
    for i in range(1, 8):
        rgb, gt = synthetic_frame(i)
        t = h.next_stamp()
        arr = h.client.send_frame(rgb, t, frame_id="cam_a")
        assert arr.header.stamp.sec * 10**9 + arr.header.stamp.nanosec == t
        assert arr.header.frame_id == "cam_a"
        assert len(arr.detections) <= 1
        for d in arr.detections:
            assert d.header == arr.header
            assert d.id == str(track_id)
            assert d.results[0].hypothesis.class_id == "target"
            assert 0.0 <= d.results[0].hypothesis.score <= 1.0
            b = d.bbox
            x, y = b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2
            ix = max(0, min(x + b.size_x, gt[0] + gt[2]) - max(x, gt[0]))
            iy = max(0, min(y + b.size_y, gt[1] + gt[3]) - max(y, gt[1]))
            ious.append(ix * iy / (b.size_x * b.size_y + gt[2] * gt[3] - ix * iy))
    assert len(ious) >= 5 and np.mean(ious) > 0.3, ious
    stats = h.node.stats()  # where the time of the tracked frames went (also in /diagnostics)
    assert all(stats[f"stage_ms_mean.{k}"] > 0 for k in ("features", "detect", "collect", "update"))


def test_reinit_changes_track_id_and_box(h):
    rgb, box = synthetic_frame(3)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    first = int(h.client.send_init(box, t).detections[0].id)
    t2 = h.next_stamp()
    h.client.send_frame(rgb, t2)
    other = (100.0, 60.0, 40.0, 30.0)
    arr = h.client.send_init(other, t2, expect_id=first + 1)
    d = arr.detections[0]
    assert int(d.id) == first + 1
    assert math.isclose(d.bbox.center.position.x, 120.0) and math.isclose(d.bbox.size_x, 40.0)
    # a zero stamp means "the latest frame"
    t3 = h.next_stamp()
    h.client.send_frame(rgb, t3)
    h.client.init_pub.publish(init_msg(box, 0))
    arr = wait_for(lambda: [a for a in h.client.det_for(t3) if a.detections
                            and a.detections[0].id == str(first + 2)], 30.0, what="zero-stamp init")[0]
    assert math.isclose(arr.detections[0].bbox.size_x, box[2])


def test_reset_stops_tracking_and_reset_while_idle_warns(h):
    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    h.client.send_init(box, t)
    res = h.client.reset()
    assert res.success and "stopped" in res.message
    arr = h.client.send_frame(rgb, h.next_stamp())
    assert arr.detections == []
    before = h.client.problem_count("reset_while_idle")
    res = h.client.reset()
    assert res.success and res.message == "already idle"
    _wait_problem(h, "reset_while_idle", before=before)


def test_reset_responsive_while_frame_processing(h):
    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    h.client.send_init(box, t)
    worker_busy = threading.Event()
    real_track = h.node.loop.tracker.track

    def slow_track(img):
        worker_busy.set()
        time.sleep(1.5)
        return real_track(img)

    h.node.loop.tracker.track = slow_track
    try:
        t1 = h.next_stamp()
        h.client.image_pub.publish(image_msg(rgb, t1))
        assert worker_busy.wait(10)
        start = time.monotonic()
        res = h.client.reset()
        assert res.success and time.monotonic() - start < 1.0
        arr = wait_for(lambda: h.client.det_for(t1), 10.0, what="result of the slow frame")[-1]
        assert arr.detections == []  # reset during the frame: its result is discarded
    finally:
        h.node.loop.tracker.track = real_track


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "mono16", "rgba8", "bgra8"])
def test_all_encodings_processed(h, encoding):
    rgb, _ = synthetic_frame(1)
    t = h.next_stamp()
    arr = h.client.send_frame(rgb, t, encoding=encoding)
    assert arr.header.stamp.nanosec == t % 10**9


def _bad(h, mutate, kind):
    rgb, _ = synthetic_frame(0)
    msg = image_msg(rgb, h.next_stamp())
    mutate(msg)
    before = h.client.problem_count(kind)
    h.client.image_pub.publish(msg)
    _wait_problem(h, kind, before=before)
    # the node keeps serving good input afterwards
    h.client.send_frame(rgb, h.next_stamp())


def test_bad_encoding(h):
    def m(msg):
        msg.encoding = "yuv422"
    _bad(h, m, "image_encoding")


def test_bad_short_data(h):
    def m(msg):
        msg.data = bytes(msg.data)[: len(msg.data) // 2]
    _bad(h, m, "image_data")


def test_bad_zero_size(h):
    def m(msg):
        msg.height, msg.width, msg.step, msg.data = 0, 0, 0, b""
    _bad(h, m, "image_size")


@pytest.mark.parametrize("box, kind", [
    ((float("nan"), 5.0, 10.0, 10.0), "init_box_nan"),
    ((5.0, 5.0, 0.0, 10.0), "init_box_size"),
    ((5.0, 5.0, -10.0, 10.0), "init_box_size"),
    ((500.0, 500.0, 10.0, 10.0), "init_box_outside"),
])
def test_bad_init_boxes(h, box, kind):
    rgb, good = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    msg = init_msg((1.0, 1.0, 1.0, 1.0), t)
    msg.bbox.center.position.x, msg.bbox.center.position.y = box[0], box[1]
    msg.bbox.size_x, msg.bbox.size_y = box[2], box[3]
    before = h.client.problem_count(kind)
    h.client.init_pub.publish(msg)
    _wait_problem(h, kind, before=before)
    h.client.send_init(good, t)  # a good init afterwards works


def test_init_stamp_not_in_buffer_starts_on_the_next_frame(h):
    rgb, box = synthetic_frame(0)
    h.client.send_frame(rgb, h.next_stamp())
    before = h.client.problem_count("init_stamp_not_buffered")
    h.client.init_pub.publish(init_msg(box, T0 - 10**12))  # far from every buffered frame
    _wait_problem(h, "init_stamp_not_buffered", before=before)
    t = h.next_stamp()
    h.client.image_pub.publish(image_msg(rgb, t))
    wait_for(lambda: [a for a in h.client.det_for(t) if a.detections], 60.0, what="init result on the next frame")
    assert "stopped" in h.client.reset().message


def test_init_whose_frame_was_lost_starts_on_the_nearest_frame(h):
    """The init's own frame never arrived (lost in transport): the nearest buffered frame within
    init_nearest_tolerance is used, with a warning; whether the init comes before or after the frame
    that follows the lost one."""
    rgb, box = synthetic_frame(0)
    for init_first in (False, True):
        t1 = h.next_stamp()
        lost = h.next_stamp()  # never published
        h.next_stamp()
        t3 = h.next_stamp()  # 67 ms after the lost one, t1 33 ms before it: t1 is the nearest
        h.client.send_frame(rgb, t1)
        before = h.client.problem_count("init_stamp_nearest")
        if init_first:  # the init waits for its frame; the next frame is newer: its frame was lost
            h.client.init_pub.publish(init_msg(box, lost))
            h.client.send_frame(rgb, t3)
        else:
            h.client.send_frame(rgb, t3)
            h.client.init_pub.publish(init_msg(box, lost))
        arr = wait_for(lambda: [a for a in h.client.det_for(t1) if a.detections], 60.0,
                       what="init result on the nearest frame")[0]
        assert np.allclose([arr.detections[0].bbox.size_x, arr.detections[0].bbox.size_y], box[2:])
        _wait_problem(h, "init_stamp_nearest", before=before)
        assert "stopped" in h.client.reset().message


def test_init_arriving_before_its_image_waits_for_it(h):
    rgb, box = synthetic_frame(2)
    h.client.send_frame(rgb, h.next_stamp())
    t = h.next_stamp()
    n_before = len(h.client.det_for(t))
    h.client.init_pub.publish(init_msg(box, t))  # its image is published afterwards
    time.sleep(0.1)
    h.client.image_pub.publish(image_msg(rgb, t))
    wait_for(lambda: [a for a in h.client.det_for(t)[n_before:] if a.detections], 30.0,
             what="init result for an init that came before its image")


def test_stamps_going_backwards(h):
    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    back = t - 10 * 10**9
    before = h.client.problem_count("stamp_backwards")
    arr = h.client.send_frame(rgb, back)  # still processed
    assert arr.header.stamp.sec * 10**9 + arr.header.stamp.nanosec == back
    _wait_problem(h, "stamp_backwards", before=before)
    h.t = t + DT


def test_image_size_change_drops_track(h):
    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    h.client.send_init(box, t)
    big, _ = synthetic_frame(1, h=140, w=200)
    before = h.client.problem_count("image_size_changed")
    arr = h.client.send_frame(big, h.next_stamp())
    assert arr.detections == []
    _wait_problem(h, "image_size_changed", before=before)
    assert h.node.stats()["state"] == "idle"
    t2 = h.next_stamp()
    h.client.send_frame(big, t2)
    assert h.client.send_init(box, t2).detections  # re-init on the new size works


def test_update_exception_keeps_tracking(h, monkeypatch):
    """An exception inside an online (background) update: reported as ERROR, tracking continues."""
    import rman_ros.core.updater as updater_mod

    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    h.client.send_init(box, t)
    assert h.node.set_parameters([Parameter("tracker.update_interval", value=2)])[0].successful

    def boom(*args, **kwargs):
        raise RuntimeError("injected update failure")

    before = h.client.problem_count("update_error")
    monkeypatch.setattr(updater_mod, "train_head", boom)
    for i in range(1, 40):
        rgb_i, _ = synthetic_frame(i)
        arr = h.client.send_frame(rgb_i, h.next_stamp())
        assert len(arr.detections) <= 1
        if h.node.stats()["update_error"]:
            break
    _wait_problem(h, "update_error", 2, before=before)
    monkeypatch.undo()
    rgb_i, _ = synthetic_frame(41)
    h.client.send_frame(rgb_i, h.next_stamp())
    assert h.node.stats()["state"] in ("tracking", "lost")
    assert h.node.set_parameters([Parameter("tracker.update_interval", value=10)])[0].successful


def test_qos_reliable_publisher_reaches_best_effort_subscription(h):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    pub = h.client.node.create_publisher(Image, "image",
                                         QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    try:
        wait_for(lambda: pub.get_subscription_count() > 0, 10.0, what="reliable publisher matched")
        rgb, _ = synthetic_frame(0)
        t = h.next_stamp()
        pub.publish(image_msg(rgb, t))
        wait_for(lambda: h.client.det_for(t), 10.0, what="detections from a reliable publisher")
    finally:
        h.client.node.destroy_publisher(pub)


def test_debug_image_only_with_subscribers(h):
    with debug_images(h) as got:
        rgb, _ = synthetic_frame(0)
        t = h.next_stamp()
        h.client.send_frame(rgb, t)
        img = wait_for(lambda: got, 10.0, what="debug image")[0]
        assert (img.height, img.width, img.encoding) == (120, 160, "rgb8")


def test_lifecycle_deactivate_and_reactivate(h):
    from rclpy.lifecycle import TransitionCallbackReturn

    assert h.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert h.node.stats()["state"] == "inactive"
    assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    h.client.wait_connected()
    h.client.send_frame(synthetic_frame(0)[0], h.next_stamp())


def test_compressed_image_input():
    """use_compressed=true: the `image` topic carries sensor_msgs/CompressedImage."""
    import cv2
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    from test_node_support import stamp

    # one DDS participant cannot hold one topic with two types: the client's raw Image publisher
    # goes elsewhere
    hc = Harness(extra={"use_compressed": True}, namespace=f"compressed_{random.randint(0, 1 << 30)}",
                 image_topic="unused")
    try:
        pub = hc.client.node.create_publisher(CompressedImage, "image", QoSProfile(depth=5))
        wait_for(lambda: pub.get_subscription_count() > 0, 10.0, what="compressed subscription")
        rgb, box = synthetic_frame(0)
        ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
        t = hc.next_stamp()
        pub.publish(CompressedImage(header=Header(stamp=stamp(t), frame_id="cz"), format="png",
                                    data=png.tobytes()))
        arr = wait_for(lambda: hc.client.det_for(t), 10.0, what="detections for a compressed image")[-1]
        assert arr.header.frame_id == "cz"
        assert hc.client.send_init(box, t).detections[0].bbox.size_x == box[2]
    finally:
        hc.close()
