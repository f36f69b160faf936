"""Closed loop through real processes: a simulated pan camera (rman_ros.follow.sim: a textured target moving
over a textured panorama) publishes camera_info and the target's ground-truth box as a Detection2DArray;
a follow_node subprocess answers with cmd_vel, whose angular.z pans the camera. The target must stay near
the image centre while it moves, and the command must drop to zero when the target hides (empty arrays)
and when the camera goes silent (no messages). About 10 s of simulated time, in real time."""
import math

import pytest

from test_follow_support import private_namespace, start_follower
from test_node_support import wait_for

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

GAINS = {"k_yaw": 3.0, "max_yaw_rate": 2.0}  # the demo's: a pan camera turns faster than a base
LOST_TIMEOUT = 0.5  # the package default (config/follow.yaml)
T_HIDE, T_SHOW, T_SILENT, T_END = 6.0, 7.0, 8.5, 10.0


def _zero(rec) -> bool:
    return rec.angular_z == 0.0 and rec.linear_x == 0.0


@pytest.fixture(scope="module")
def closed_loop(tmp_path_factory):
    from rman_ros.bag.launcher import stop_node
    from rman_ros.follow.sim import PanCameraWorld
    from rman_ros.follow.sim_loop import PanCameraLoop

    ns = private_namespace("pan")
    log = tmp_path_factory.mktemp("follow_sim") / "follow_node.log"
    proc = start_follower(ns, log, GAINS)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    world = PanCameraWorld(seed=3)
    loop = PanCameraLoop(ctx, world, namespace=ns)
    try:
        wait_for(lambda: proc.poll() is not None or loop.connected(), 60, what="follow_node subprocess")
        assert proc.poll() is None, "follow_node exited"
        records = loop.run(T_END, fps=30.0, visible=lambda t: not (T_HIDE <= t < T_SHOW),
                           publish=lambda t: t < T_SILENT)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log.read_text()}")
    finally:
        loop.close()
        rclpy.shutdown(context=ctx)
        code = stop_node(proc)
    assert code == 0, log.read_text()
    return world, records


def test_target_stays_near_the_centre_while_it_moves(closed_loop):
    world, records = closed_loop
    following = [r for r in records if 0.5 <= r.t < T_HIDE]
    assert len(following) >= 0.5 * 30 * (T_HIDE - 0.5), f"only {len(following)} frames"
    boxed = [r for r in following if r.box is not None]
    assert len(boxed) == len(following), "the target never left the view"
    offsets = [abs(r.box[0] + r.box[2] / 2.0 - world.cam.cx) for r in boxed]
    bound = world.width / 4.0  # half of the half-width
    assert max(offsets) < bound, f"target {max(offsets):.0f} px from the centre (bound {bound:.0f})"
    open_loop = max(abs(world.path(r.t)[0]) for r in following)  # where it would be with a still camera
    closed = max(abs(r.bearing) for r in following)
    print(f"closed loop: target at most {max(offsets):.0f} px from the centre (bound {bound:.0f}), bearing "
          f"{math.degrees(closed):.1f} deg (still camera: {math.degrees(open_loop):.1f} deg), "
          f"{len(following)} frames")
    assert closed < 0.4 * open_loop, (math.degrees(closed), math.degrees(open_loop))
    assert any(r.angular_z > 0 for r in following) and any(r.angular_z < 0 for r in following)
    assert all(r.linear_x > 0 for r in following[30:]), "the target is farther than desired_distance_m"


def test_zero_command_within_lost_timeout_when_the_target_hides(closed_loop):
    world, records = closed_loop
    hidden = [r for r in records if T_HIDE <= r.t < T_SHOW]
    first_zero = next(r for r in hidden if _zero(r))
    print(f"zero {first_zero.t - T_HIDE:.3f} s after the target hid")
    assert first_zero.t - T_HIDE <= LOST_TIMEOUT, first_zero.t - T_HIDE
    assert all(_zero(r) for r in hidden if r.t >= first_zero.t)
    shown = [r for r in records if T_SHOW + 0.3 <= r.t < T_SILENT]
    assert shown and any(not _zero(r) for r in shown), "following resumes when the target reappears"


def test_zero_command_within_lost_timeout_when_the_camera_goes_silent(closed_loop):
    world, records = closed_loop
    assert not _zero([r for r in records if r.t < T_SILENT][-1]), "it was following when the camera stopped"
    silent = [r for r in records if r.t >= T_SILENT]
    first_zero = next(r for r in silent if _zero(r))
    frame = 1.0 / 30.0  # the records sample the command once a frame
    print(f"zero {first_zero.t - T_SILENT:.3f} s after the camera went silent")
    assert first_zero.t - T_SILENT <= LOST_TIMEOUT + frame + 0.2, first_zero.t - T_SILENT
    assert all(_zero(r) for r in silent if r.t >= first_zero.t)
