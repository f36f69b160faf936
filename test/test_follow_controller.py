"""The follower's pure maths (rman_ros.follow.pinhole / controller / params): signs, magnitudes, deadband,
saturation and the pinhole model, with no ROS in the loop; plus target selection from real messages."""
import math

import pytest

from rman_ros.follow.controller import STOP, Gains, control, forward_speed, yaw_rate
from rman_ros.follow.params import FOLLOW_PARAMS, gains_from_values
from rman_ros.follow.pinhole import (Intrinsics, bearing, distance, project, ray, rotate, target_position,
                                     transform_point)

CAM = Intrinsics(fx=500.0, fy=520.0, cx=320.0, cy=240.0)
GAINS = Gains(k_yaw=1.0, k_forward=0.5, max_yaw_rate=1.0, max_forward_speed=0.5, deadband_px=10,
              desired_distance_m=2.0, target_height_m=1.7)


def h_at(z: float, gains: Gains = GAINS) -> float:
    """Box height in pixels of the target at depth z."""
    return CAM.fy * gains.target_height_m / z


def test_intrinsics_from_camera_info_k():
    cam = Intrinsics.from_k([500.0, 0.0, 320.0, 0.0, 520.0, 240.0, 0.0, 0.0, 1.0])
    assert cam == CAM and cam.k()[0] == 500.0 and cam.k()[5] == 240.0
    with pytest.raises(ValueError, match="uncalibrated"):
        Intrinsics.from_k([0.0] * 9)
    with pytest.raises(ValueError, match="9 elements"):
        Intrinsics.from_k([1.0] * 4)
    with pytest.raises(ValueError, match="finite"):
        Intrinsics(float("nan"), 1.0, 0.0, 0.0)


def test_target_right_turns_right_left_turns_left():
    right = control(CAM.cx + 100, CAM.cy, h_at(2.0), CAM, GAINS)
    left = control(CAM.cx - 100, CAM.cy, h_at(2.0), CAM, GAINS)
    assert right.bearing > 0 and right.command.angular_z < 0  # REP-103: right turn is negative yaw
    assert left.bearing < 0 and left.command.angular_z > 0
    assert right.command.angular_z == pytest.approx(-math.atan2(100, 500.0))
    assert left.command.angular_z == pytest.approx(math.atan2(100, 500.0))


def test_yaw_magnitude_scales_with_gain_and_bearing():
    g2 = Gains(k_yaw=2.0, max_yaw_rate=5.0)
    for du in (20.0, 80.0, 200.0):
        assert yaw_rate(CAM.cx + du, CAM, g2) == pytest.approx(-2.0 * math.atan2(du, CAM.fx))
    assert abs(yaw_rate(CAM.cx + 200, CAM, g2)) > abs(yaw_rate(CAM.cx + 80, CAM, g2))


def test_deadband_gives_zero_yaw_but_keeps_forward():
    for du in (0.0, 5.0, -10.0, 10.0):
        out = control(CAM.cx + du, CAM.cy, h_at(4.0), CAM, GAINS)
        assert out.command.angular_z == 0.0 and math.copysign(1.0, out.command.angular_z) == 1.0
        assert out.command.linear_x > 0
    assert yaw_rate(CAM.cx + 10.5, CAM, GAINS) < 0


def test_yaw_saturates():
    g = Gains(k_yaw=10.0, max_yaw_rate=0.3)
    assert yaw_rate(CAM.cx + 300, CAM, g) == pytest.approx(-0.3)
    assert yaw_rate(CAM.cx - 300, CAM, g) == pytest.approx(0.3)


def test_far_target_drives_forward_near_target_does_not_reverse():
    far = control(CAM.cx, CAM.cy, h_at(2.6), CAM, GAINS)
    assert far.distance == pytest.approx(2.6)
    assert far.command.linear_x == pytest.approx(0.5 * (2.6 - 2.0))
    near = control(CAM.cx, CAM.cy, h_at(1.2), CAM, GAINS)
    assert near.distance == pytest.approx(1.2) and near.command.linear_x == 0.0
    at = control(CAM.cx, CAM.cy, h_at(2.0), CAM, GAINS)
    assert at.command.linear_x == pytest.approx(0.0, abs=1e-12)


def test_forward_saturates_and_reverse_only_when_allowed():
    assert forward_speed(50.0, GAINS) == pytest.approx(0.5)
    rev = Gains(allow_reverse=True, max_forward_speed=0.4)
    assert forward_speed(1.5, rev) == pytest.approx(-0.25)
    assert forward_speed(0.1, rev) == pytest.approx(-0.4)
    assert forward_speed(0.1, GAINS) == 0.0


def test_target_position_is_the_pinhole_ray_times_z():
    u, v, h = 420.0, 300.0, h_at(3.0)
    x, y, z = target_position(u, v, h, GAINS.target_height_m, CAM)
    assert z == pytest.approx(3.0)
    assert x == pytest.approx((u - CAM.cx) / CAM.fx * 3.0) and y == pytest.approx((v - CAM.cy) / CAM.fy * 3.0)
    assert project((x, y, z), CAM) == pytest.approx((u, v))  # back onto the same pixel
    assert ray(CAM.cx, CAM.cy, CAM) == (0.0, 0.0, 1.0)
    assert bearing(CAM.cx + CAM.fx, CAM) == pytest.approx(math.pi / 4)
    out = control(u, v, h, CAM, GAINS)
    assert out.position == pytest.approx((x, y, z))


def test_distance_rejects_bad_heights_and_control_falls_back_to_yaw_only():
    assert distance(100.0, 1.7, CAM) == pytest.approx(CAM.fy * 0.017)
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            distance(bad, 1.7, CAM)
        out = control(CAM.cx + 100, CAM.cy, bad, CAM, GAINS)
        assert out.distance is None and out.position is None
        assert out.command.linear_x == 0.0 and out.command.angular_z < 0
    with pytest.raises(ValueError, match="finite"):
        control(float("nan"), 0.0, 10.0, CAM, GAINS)


def test_rigid_transform_of_the_optical_frame():
    # optical (x right, y down, z forward) -> base (x forward, y left, z up): the usual camera mount
    q = (-0.5, 0.5, -0.5, 0.5)
    assert rotate(q, (0.0, 0.0, 1.0)) == pytest.approx((1.0, 0.0, 0.0))
    assert rotate(q, (1.0, 0.0, 0.0)) == pytest.approx((0.0, -1.0, 0.0))
    assert rotate(q, (0.0, 1.0, 0.0)) == pytest.approx((0.0, 0.0, -1.0))
    assert transform_point((0.1, 0.0, 0.5), q, (0.5, 0.2, 3.0)) == pytest.approx((3.1, -0.5, 0.3))


def test_gains_validation_and_parameter_defaults():
    with pytest.raises(ValueError, match="k_yaw"):
        Gains(k_yaw=-1.0)
    with pytest.raises(ValueError, match="target_height_m"):
        Gains(target_height_m=0.0)
    defaults = {s.name: s.default for s in FOLLOW_PARAMS}
    assert {k: defaults[k] for k in ("target_height_m", "desired_distance_m", "k_yaw", "k_forward",
                                     "max_yaw_rate", "max_forward_speed", "deadband_px", "lost_timeout",
                                     "cmd_rate", "base_frame", "allow_reverse", "publish_tf")} == {
        "target_height_m": 1.7, "desired_distance_m": 2.0, "k_yaw": 1.0, "k_forward": 0.5, "max_yaw_rate": 1.0,
        "max_forward_speed": 0.5, "deadband_px": 10, "lost_timeout": 0.5, "cmd_rate": 20.0, "base_frame": "",
        "allow_reverse": False, "publish_tf": False}
    assert gains_from_values({}) == Gains()
    assert gains_from_values({"k_yaw": 2.5, "deadband_px": 3}).k_yaw == 2.5
    assert STOP.is_zero


def test_parameter_descriptors_have_descriptions_and_ranges():
    from rcl_interfaces.msg import ParameterType

    from rman_ros.ros.params import descriptor

    for spec in FOLLOW_PARAMS:
        d = descriptor(spec)
        assert d.description
        if d.type == ParameterType.PARAMETER_DOUBLE:
            assert d.floating_point_range and d.floating_point_range[0].from_value <= spec.default
        if d.type == ParameterType.PARAMETER_INTEGER:
            assert d.integer_range and d.integer_range[0].to_value >= spec.default


def test_select_target_min_score_rule():
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2D, Detection2DArray

    from rman_ros.follow.messages import select_target
    from rman_ros.ros.conversions import box_to_detection

    h = Header(frame_id="cam")
    arr = Detection2DArray(header=h)
    assert select_target(arr, 0.0) is None  # empty array: lost
    arr.detections = [box_to_detection((10, 20, 30, 40), h, 1, "a", 0.3),
                      box_to_detection((100, 20, 30, 60), h, 2, "b", 0.8)]
    best = select_target(arr, 0.0)
    assert (best.u, best.v, best.w, best.h, best.score) == pytest.approx((115.0, 50.0, 30.0, 60.0, 0.8))
    assert select_target(arr, 0.9) is None  # all below min_score: lost
    plain = Detection2D()  # a box without hypotheses counts as score 1
    plain.bbox.center.position.x, plain.bbox.size_x, plain.bbox.size_y = 5.0, 2.0, 2.0
    nan = box_to_detection((float("nan"), 0, 1, 1), h, 3, "c", 1.0)
    assert select_target(Detection2DArray(detections=[nan, plain]), 0.95).u == 5.0


@pytest.mark.parametrize("name", ["pinhole", "controller", "sim"])
def test_the_maths_and_the_simulator_import_no_ros(name):
    import ast
    from pathlib import Path

    import rman_ros.follow

    path = Path(rman_ros.follow.__file__).with_name(f"{name}.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    modules += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    bad = [m for m in modules if m.split(".")[0] in ("rclpy", "rcl_interfaces", "geometry_msgs", "sensor_msgs",
                                                      "std_msgs", "vision_msgs", "tf2_ros")
           or m.startswith(("rman_ros.ros", "rman_ros.bag", "rman_ros.follow.follow_node",
                            "rman_ros.follow.messages"))]
    assert not bad, bad
