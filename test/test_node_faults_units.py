"""Pure-logic parts of the issue 30 fixes: stamp and box validation, init matching, the spin loop that
survives a raising callback, and the early signal handler (no running node needed)."""
import math
import os
import signal
import threading

import pytest

from rman_ros.ros.frame_buffer import Frame, FrameBuffer
from rman_ros.ros.init_matcher import EXACT, NEAREST, NEXT, WAIT, match_init
from rman_ros.ros.validation import (MAX_BOX_PX, BoxError, check_box, drawable_corners, fit_box, image_too_large,
                                     normalise_stamp)

MS = 1_000_000


class _Stamp:
    def __init__(self, sec, nanosec):
        self.sec, self.nanosec = sec, nanosec


def test_normalise_stamp_carries_nanosec_into_sec():
    s = _Stamp(5, 2_500_000_001)
    assert normalise_stamp(s) and (s.sec, s.nanosec) == (7, 500_000_001)
    s = _Stamp(5, 999_999_999)
    assert not normalise_stamp(s) and (s.sec, s.nanosec) == (5, 999_999_999)


@pytest.mark.parametrize("box, kind", [
    ((math.nan, 5, 10, 10), "nan"), ((5, 5, math.inf, 10), "nan"), ((80, 60, 1e300, 1e300), "range"),
    ((-2 * MAX_BOX_PX, 5, 10, 10), "range"), ((5, 5, 0, 10), "size"), ((5, 5, 10, -1), "size"),
])
def test_check_box_rejects(box, kind):
    with pytest.raises(BoxError) as ei:
        check_box(*box)
    assert ei.value.kind == kind


def test_fit_box_clips_to_the_image_and_needs_min_px_inside_it():
    shape = (120, 160, 3)
    assert check_box(5.0, 5.0, 60.0, 80.0) == (-25.0, -35.0, 60.0, 80.0)
    assert fit_box((-25.0, -35.0, 60.0, 80.0), shape, 4.0) == (0.0, 0.0, 35.0, 45.0)
    assert fit_box((10.0, 20.0, 30.0, 40.0), shape, 4.0) == (10.0, 20.0, 30.0, 40.0)
    with pytest.raises(BoxError) as ei:
        fit_box((200.0, 5.0, 10.0, 10.0), shape, 4.0)
    assert ei.value.kind == "outside"
    for box in ((40.0, 40.0, 3.0, 3.0), (0.0, 40.0, 150.0, 2.0), (-27.0, 40.0, 30.0, 30.0)):  # the last: 3 px in
        with pytest.raises(BoxError, match="min_box_px") as ei:
            fit_box(box, shape, 4.0)
        assert ei.value.kind == "size"


def test_image_size_limit_and_drawable_corners():
    assert image_too_large(4096, 4096, 4096 * 4096) is None
    assert "max_image_pixels" in image_too_large(4097, 4096, 4096 * 4096)
    assert drawable_corners((-1e5, 10.4, 2e5, 1e6), 160, 120) == (-1, 10, 161, 121)


def _buffer(*stamps_ms):
    buf = FrameBuffer(10)
    for i, ms in enumerate(stamps_ms):
        buf.push(Frame(ms * MS, None, None, i))
    return buf


def test_match_init_exact_wait_nearest_next():
    tol, near = 20 * MS, 500 * MS
    empty = FrameBuffer(3)
    assert match_init(empty, 1000 * MS, tol, near, waited_out=False).how == WAIT
    assert match_init(empty, 1000 * MS, tol, near, waited_out=True).how == NEXT
    buf = _buffer(1000, 1033, 1100)  # the frame at 1066 ms was lost
    m = match_init(buf, 1040 * MS, tol, near, False)
    assert (m.how, m.frame.seq) == (EXACT, 1)
    m = match_init(buf, 0, tol, near, False)  # a zero stamp: the latest frame
    assert (m.how, m.frame.seq) == (EXACT, 2)
    m = match_init(buf, 1066 * MS, tol, near, False)  # newer frames exist: its own one is not coming
    assert (m.how, m.frame.seq) == (NEAREST, 1)
    assert match_init(buf, 1200 * MS, tol, near, False).how == WAIT  # its frame may still come
    m = match_init(buf, 1200 * MS, tol, near, True)
    assert (m.how, m.frame.seq) == (NEAREST, 2)
    assert match_init(buf, 5000 * MS, tol, near, True).how == NEXT
    assert match_init(buf, 10 * MS, tol, near, False).how == NEXT  # far older than the buffer


def test_config_errors_name_the_parameters():
    pytest.importorskip("rcl_interfaces")
    from rman_ros.core.config import RMANConfig
    from rman_ros.ros.params import parameter_names

    assert parameter_names("config tau2 must be <= tau1", RMANConfig) == "tracker.tau2 must be <= tracker.tau1"
    assert parameter_names("config device='x': expected auto", RMANConfig) == "device='x': expected auto"
    assert parameter_names("config tracker.tau2=0.9", RMANConfig) == "tracker.tau2=0.9"


def test_spin_reports_a_raising_callback_and_goes_on():
    rclpy = pytest.importorskip("rclpy")
    from rman_ros.ros.tracker_node import spin

    class Executor:
        calls = 0

        def spin_once(self, timeout_sec):
            self.calls += 1
            if self.calls == 1:
                raise ValueError("99 is not a valid ParameterType")
            if self.calls == 3:
                stop.set()

    class Node:
        errors = []

        def report_callback_error(self, exc):
            self.errors.append(exc)

    stop = threading.Event()
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        ex, node = Executor(), Node()
        spin(ex, node, stop, context=ctx)
    finally:
        rclpy.shutdown(context=ctx)
    assert ex.calls == 3 and [str(e) for e in node.errors] == ["99 is not a valid ParameterType"]


def test_spin_ends_quietly_when_a_signal_shuts_the_context_down_mid_wait():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor

    from rman_ros.ros.tracker_node import spin

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    real = SingleThreadedExecutor(context=ctx)

    class Executor:  # the shutdown lands after spin's rclpy.ok() check, before the executor's wait set
        calls = 0

        def spin_once(self, timeout_sec):
            self.calls += 1
            rclpy.shutdown(context=ctx)
            real.spin_once(timeout_sec=timeout_sec)  # raises: the context is not valid any more

    class Node:
        errors = []

        def report_callback_error(self, exc):
            self.errors.append(exc)

    ex, node = Executor(), Node()
    try:
        spin(ex, node, threading.Event(), context=ctx)
    finally:
        rclpy.try_shutdown(context=ctx)
    assert ex.calls == 1 and node.errors == []


def test_stop_signals_set_an_event_instead_of_raising():
    from rman_ros.ros.tracker_node import catch_stop_signals

    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop = catch_stop_signals()
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt with Python's default handler
        assert stop.wait(5)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
