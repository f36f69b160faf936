"""Faults found by driving the node from outside (issue 30), in process: a real TrackerNode and a client
node exchanging real messages. Where a race is tested, the test holds the worker inside the tracker on an
event, so the outcome does not depend on timing."""
import threading

import numpy as np
import pytest

from test_node_support import (debug_images, harness_fixture, image_msg, init_msg, synthetic_frame, wait_for,
                               wait_problem)

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

h = harness_fixture("faults")


def _start_track(h, i=0):
    rgb, box = synthetic_frame(i)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    h.client.send_init(box, t)
    return rgb, box, t


class _HeldInit:
    """Replaces the tracker's initialize: the worker stops inside it until `release` is set."""

    def __init__(self, tracker):
        self.tracker, self.real = tracker, tracker.initialize
        self.entered, self.release = threading.Event(), threading.Event()

    def __enter__(self):
        def held(rgb, box):
            self.entered.set()
            assert self.release.wait(60), "test never released the init"
            return self.real(rgb, box)

        self.tracker.initialize = held
        return self

    def __exit__(self, *exc):
        self.release.set()
        del self.tracker.initialize  # the class method again


def _inits_for(h, t):
    return [a for a in h.client.det_for(t) if a.detections]


def test_reset_during_an_init_wins(h):
    """A reset that comes while an init is trained: the init's result is never published and the node
    stays idle (fault 3)."""
    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    with _HeldInit(h.node.loop.tracker) as held:
        h.client.init_pub.publish(init_msg(box, t))
        assert held.entered.wait(60)
        res = h.client.reset()
        assert res.success and res.message == "pending init cancelled"
        held.release.set()
        wait_for(lambda: not h.node.loop.init_running, 60, what="the worker done with the init")
    t2 = h.next_stamp()
    assert h.client.send_frame(rgb, t2).detections == []  # published after anything the init published
    assert _inits_for(h, t) == []
    assert h.node.stats()["state"] == "idle"


def test_deactivate_during_an_init_does_not_wait_for_it(h):
    """Deactivate returns while an init is held inside the tracker; the worker drops the init, closes its
    tracker and exits; the node activates again and tracks (fault 4g)."""
    rgb, box = synthetic_frame(0)
    t = h.next_stamp()
    h.client.send_frame(rgb, t)
    tracker, worker = h.node.loop.tracker, h.node.loop.worker
    closed = threading.Event()
    real_close = tracker.close
    tracker.close = lambda: (closed.set(), real_close())
    with _HeldInit(tracker) as held:
        h.client.init_pub.publish(init_msg(box, t))
        assert held.entered.wait(60)
        returned = threading.Event()
        threading.Thread(target=lambda: (h.node.trigger_deactivate(), returned.set()), daemon=True).start()
        # the init stays held until released below: a deactivate that waited for it would not return
        assert returned.wait(30), "deactivate waited for the init"
        assert h.node.stats()["state"] == "inactive" and worker.is_alive()
        held.release.set()
        worker.join(60)
    assert not worker.is_alive() and closed.is_set()  # it closed its tracker
    assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    h.client.wait_connected()
    _start_track(h)
    assert _inits_for(h, t) == []


@pytest.mark.parametrize("size", [(2.0, 2.0), (3.0, 3.0), (150.0, 2.0)])
def test_init_box_under_min_box_px_is_rejected_and_the_track_goes_on(h, size):
    """The node checks the tracker's min_box_px before touching the running track (fault 4c)."""
    rgb, _, t = _start_track(h)
    tracker = h.node.loop.tracker
    tracker.updater.wait(60)  # the RMAN head's first-frame training, which lands in the background
    head, track_id = tracker.updater.front, h.node.stats()["track_id"]
    t2 = h.next_stamp()
    h.client.send_frame(rgb, t2)
    before = h.client.problem_count("init_box_size")
    h.client.init_pub.publish(init_msg((5.0, 40.0) + size, t2))
    st = wait_problem(h, "init_box_size", before=before)[-1]
    assert "min_box_px" in st.message and "high <= 0" not in st.message
    arr = h.client.send_frame(synthetic_frame(1)[0], h.next_stamp())
    assert tracker.updater.front is head and h.node.stats()["track_id"] == track_id
    assert all(d.id == str(track_id) for d in arr.detections)
    assert h.node.stats()["state"] in ("tracking", "lost")


def test_init_box_partly_outside_is_clipped_in_the_result_and_the_debug_image(h):
    """The init frame's result carries the box clipped to the image, as the tracker took it (fault 4d)."""
    with debug_images(h) as got:
        rgb, _ = synthetic_frame(0)
        t = h.next_stamp()
        h.client.send_frame(rgb, t)
        d = h.client.send_init((-25.0, -35.0, 60.0, 80.0), t).detections[0]
        x, y = d.bbox.center.position.x - d.bbox.size_x / 2, d.bbox.center.position.y - d.bbox.size_y / 2
        assert np.allclose([x, y, d.bbox.size_x, d.bbox.size_y], [0.0, 0.0, 35.0, 45.0])
        # an absurd box is refused with a clear reason; drawing and the node go on
        before = h.client.problem_count("init_box_range")
        msg = init_msg((0.0, 0.0, 1.0, 1.0), t)
        msg.bbox.center.position.x, msg.bbox.size_x, msg.bbox.size_y = 80.0, 1e300, 1e300
        h.client.init_pub.publish(msg)
        wait_problem(h, "init_box_range", before=before)
        t2 = h.next_stamp()
        h.client.send_frame(rgb, t2)
        wait_for(lambda: [m for m in got if m.header.stamp.nanosec == t2 % 10**9], 10.0, what="debug image")
    assert h.client.reset().success


def test_stamp_with_nanosec_over_a_second_is_normalised_and_answered(h):
    """(fault 4b)"""
    rgb, _ = synthetic_frame(0)
    t = h.next_stamp()
    msg = image_msg(rgb, t)
    msg.header.stamp.sec, msg.header.stamp.nanosec = t // 10**9 - 1, 10**9 + t % 10**9
    before = h.client.problem_count("stamp_invalid")
    h.client.image_pub.publish(msg)
    arr = wait_for(lambda: h.client.det_for(t), 30.0, what="answer to a frame with nanosec >= 1e9")[-1]
    assert (arr.header.stamp.sec, arr.header.stamp.nanosec) == (t // 10**9, t % 10**9)
    wait_problem(h, "stamp_invalid", before=before)


def test_images_over_max_image_pixels_are_dropped(h):
    """(fault 4f)"""
    rgb, _ = synthetic_frame(0)
    limit = rgb.shape[0] * rgb.shape[1] - 1
    assert h.node.set_parameters([Parameter("max_image_pixels", value=limit)])[0].successful
    wait_for(lambda: h.node.loop.opts["max_image_pixels"] == limit, 10.0, what="limit applied")
    try:
        before = h.client.problem_count("image_too_large")
        t = h.next_stamp()
        h.client.image_pub.publish(image_msg(rgb, t))
        wait_problem(h, "image_too_large", before=before)
    finally:
        assert h.node.set_parameters([Parameter("max_image_pixels", value=4096 * 4096)])[0].successful
    wait_for(lambda: h.node.loop.opts["max_image_pixels"] == 4096 * 4096, 10.0, what="limit restored")
    h.client.send_frame(rgb, h.next_stamp())
    assert h.client.det_for(t) == []  # the big one was never answered


def test_a_parameter_with_an_empty_name_is_rejected(h):
    """(fault 4a) through the node's real parameter service."""
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterValue
    from rcl_interfaces.srv import SetParameters

    cli = h.client.node.create_client(SetParameters, f"{h.node.get_fully_qualified_name()}/set_parameters")
    try:
        assert cli.wait_for_service(timeout_sec=10)
        value = ParameterValue(type=4, string_value="x")  # PARAMETER_STRING
        fut = cli.call_async(SetParameters.Request(parameters=[ParameterMsg(name="", value=value)]))
        res = wait_for(fut.done, 10.0, what="set_parameters answer") and fut.result()
        assert not res.results[0].successful and "empty" in res.results[0].reason
        assert not h.node.has_parameter("")
    finally:
        h.client.node.destroy_client(cli)
