"""launch/follow.launch.py and its argument logic (rman_ros.follow.launch_plan, callable without the
launch stack), config/follow.yaml, the installed executable, and two cameras in two namespaces: two real
follow_node processes built by the launch plan, each commanding only its own namespace."""
import ast
import importlib.util
import os
import time
from pathlib import Path

import pytest

from rman_ros.follow import launch_plan
from rman_ros.follow.params import FOLLOW_PARAMS, NODE_NAME
from rman_ros.ros.launch_args import discovery_environment, launch_arguments

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "follow.launch.py"
FOLLOW_YAML = ROOT / "config" / "follow.yaml"
TRACKER_ARGS = {"params_file", "namespace", "use_sim_time", "image_topic", "init_topic", "device", "log_level",
                "discovery_range"}


def _args(**kw):
    """The launch arguments' defaults for this checkout (its config files), with `kw`."""
    return dict(launch_plan.default_arguments(str(ROOT)), **kw)


def test_arguments_are_the_trackers_plus_the_followers_with_plain_defaults():
    share = "/opt/share/rman_ros"
    args = launch_plan.launch_arguments(share)
    assert set(args) == set(launch_arguments("x")) | {"follow_params_file", "camera_info_topic", "cmd_vel_topic"}
    assert set(args) >= TRACKER_ARGS
    assert all(isinstance(default, str) and text for default, text in args.values())  # --show-args prints them
    d = launch_plan.default_arguments(share)
    assert d["follow_params_file"] == os.path.join(share, "config", "follow.yaml")
    assert d["params_file"] == os.path.join(share, "config", "tracker.yaml")
    # '' = decided at launch time: the params files' use_sim_time, the caller's discovery range
    assert d["discovery_range"] == d["use_sim_time"] == d["device"] == d["namespace"] == ""


def test_node_specs_put_tracker_and_follower_in_one_namespace():
    tracker, follower = launch_plan.node_specs(_args(namespace="/cam_left/", image_topic="/cam_left/image_raw",
                                                     device="cuda", use_sim_time="true", cmd_vel_topic="/cmd_vel"))
    assert (tracker["executable"], tracker["name"]) == ("tracker_node", "rman_tracker")
    assert (follower["executable"], follower["name"]) == ("follow_node", NODE_NAME)
    assert tracker["namespace"] == follower["namespace"] == "cam_left"
    assert tracker["parameters"] == [str(ROOT / "config" / "tracker.yaml"), {"use_sim_time": True, "device": "cuda"}]
    assert follower["parameters"] == [str(FOLLOW_YAML), {"use_sim_time": True}]
    assert dict(tracker["remappings"]) == {"image": "/cam_left/image_raw", "init": "init"}
    assert dict(follower["remappings"]) == {"camera_info": "camera_info", "cmd_vel": "/cmd_vel"}
    # `detections` is not remapped: the follower reads the tracker's output in their namespace
    assert all(src != "detections" for spec in (tracker, follower) for src, _ in spec["remappings"])


def test_use_sim_time_is_left_to_the_params_files_unless_given():
    """An unset use_sim_time passes nothing after the params files, so a params file's `use_sim_time: true`
    stands (as in tracker.launch.py)."""
    tracker, follower = launch_plan.node_specs(_args())
    assert tracker["parameters"] == [str(ROOT / "config" / "tracker.yaml")]
    assert follower["parameters"] == [str(FOLLOW_YAML)]
    tracker, follower = launch_plan.node_specs(_args(use_sim_time="false"))
    assert tracker["parameters"][1:] == follower["parameters"][1:] == [{"use_sim_time": False}]


def test_the_log_level_is_a_ros_argument_of_both_nodes():
    for spec in launch_plan.node_specs(_args(log_level="debug")):
        assert spec["ros_arguments"] == ["--log-level", "debug"] and "arguments" not in spec


def test_node_specs_reject_bad_arguments():
    for bad, reason in (({"namespace": "1cam"}, "namespace"), ({"namespace": "cam left"}, "namespace"),
                        ({"use_sim_time": "maybe"}, "use_sim_time"), ({"follow_params_file": ""}, "no such file"),
                        ({"params_file": "/nonexistent/tracker.yaml"}, "no such file"),
                        ({"follow_params_file": "/nonexistent/follow.yaml"}, "no such file"),
                        ({"discovery_range": "everywhere"}, "discovery range")):
        with pytest.raises(ValueError, match=reason):
            launch_plan.node_specs(_args(**bad))
    nested = launch_plan.node_specs(_args(namespace="robot1/cam_front"))
    assert nested[0]["namespace"] == "robot1/cam_front"


def test_discovery_comes_from_the_tracker_launch_logic():
    """One discovery rule for both launch files (launch_args.discovery_environment): the argument, else the
    caller's ROS_AUTOMATIC_DISCOVERY_RANGE at launch time, else LOCALHOST."""
    defaults = launch_plan.default_arguments("/x")
    assert discovery_environment(defaults["discovery_range"], {}) == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    assert discovery_environment(defaults["discovery_range"], {"ROS_AUTOMATIC_DISCOVERY_RANGE": "subnet"}) == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    assert discovery_environment("subnet", {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}) == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    humble = discovery_environment("", {"ROS_DISTRO": "humble"})
    assert humble["ROS_LOCALHOST_ONLY"] == "1"
    assert "ROS_LOCALHOST_ONLY" not in discovery_environment("", {"ROS_DISTRO": "humble", "ROS_LOCALHOST_ONLY": "0"})
    assert not hasattr(launch_plan, "environment")  # no second copy of the rule


def test_command_line_matches_the_spec():
    follower = launch_plan.node_specs(_args(namespace="cam_b", log_level="warn"))[1]
    follower["parameters"].append({"k_yaw": 2.0, "allow_reverse": True})
    cmd = launch_plan.command(follower, python="py")
    assert cmd[:3] == ["py", "-m", "rman_ros.follow.follow_node"]
    assert cmd[3:6] == ["--ros-args", "--log-level", "warn"]
    text = " ".join(cmd)
    for part in (f"--params-file {FOLLOW_YAML}", "-p k_yaw:=2.0", "-p allow_reverse:=true", "-r cmd_vel:=cmd_vel",
                 "-r __node:=rman_follower", "-r __ns:=/cam_b"):
        assert part in text, part
    assert "use_sim_time" not in text
    with pytest.raises(ValueError, match="unknown executable"):
        launch_plan.command(dict(follower, executable="nope"))


def test_launch_file_uses_the_plan_and_documents_two_namespaces():
    src = LAUNCH_FILE.read_text()
    tree = ast.parse(src)
    imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert {("rman_ros.follow.launch_plan", "launch_arguments"), ("rman_ros.follow.launch_plan", "node_specs"),
            ("rman_ros.ros.launch_args", "discovery_environment")} <= imported
    doc = ast.get_docstring(tree)
    assert "namespace:=cam_left" in doc and "namespace:=cam_right" in doc
    assert {"DeclareLaunchArgument", "OpaqueFunction", "Node", "SetEnvironmentVariable"} <= {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "os.environ" not in src  # the discovery default is read at launch time, not declared from it


def test_follow_yaml_holds_every_parameter_for_any_namespace():
    import yaml

    from rman_ros.ros.params import check_value, params_from_file

    doc = yaml.safe_load(FOLLOW_YAML.read_text())
    assert list(doc) == [f"/**/{NODE_NAME}"], "rman_follower in any namespace"
    flat = params_from_file(FOLLOW_YAML, node_name=f"**/{NODE_NAME}")
    specs = {s.name: s for s in FOLLOW_PARAMS}
    assert set(flat) == set(specs)
    for name, value in flat.items():
        assert check_value(specs[name], value) is None
        assert value == specs[name].default, f"{name}: the file holds the defaults"


def test_follow_node_executable_is_installed():
    script = ROOT / "install" / "rman_ros" / "lib" / "rman_ros" / "follow_node"
    if not script.exists():
        pytest.skip("rman_ros not built here (make setup)")
    assert os.access(script, os.X_OK) and "follow_node" in script.read_text()
    assert (ROOT / "install" / "rman_ros" / "share" / "rman_ros" / "config" / "follow.yaml").exists()


def test_two_cameras_in_two_namespaces(tmp_path):
    rclpy = pytest.importorskip("rclpy")
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")
    from rman_ros.bag.launcher import PACKAGE_ROOT, stop_node
    from test_follow_support import CAM, FollowClient, private_namespace
    from test_node_support import wait_for

    namespaces = [private_namespace("cam_left"), private_namespace("cam_right")]
    procs, clients = [], []
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        for ns in namespaces:
            args = dict(launch_plan.default_arguments(str(PACKAGE_ROOT)), namespace=ns)
            procs.append(launch_plan.start(launch_plan.node_specs(args)[1], tmp_path / f"{ns}.log"))
            clients.append(FollowClient(ctx, ns))
        wait_for(lambda: all(c.connected() for c in clients), 60, what="both followers")
        left, right = clients
        for c, du in ((left, -150), (right, 150)):  # target on the left in one, on the right in the other
            c.publish_camera_info = True
            c.set_box(CAM["cx"] + du, CAM["cy"], 60, 200)
        left.wait_cmd(lambda vx, wz: wz > 0, what="left camera turns left")
        right.wait_cmd(lambda vx, wz: wz < 0, what="right camera turns right")
        assert right.enable(False).success  # only the right camera's follower is disabled
        t0 = time.monotonic()
        right.wait_cmd(lambda vx, wz: wz == 0.0, since=t0, what="right camera stopped")
        time.sleep(0.3)
        assert all(wz > 0 for _, _, wz in left.cmds_since(t0)), "the left follower is unaffected"
        for p in procs:
            assert p.poll() is None
    finally:
        for c in clients:
            c.close()
        rclpy.shutdown(context=ctx)
        codes = [stop_node(p) for p in procs]
    assert codes == [0, 0], [(tmp_path / f"{ns}.log").read_text() for ns in namespaces]


_MISSING = [m for m in ("launch", "launch_ros") if importlib.util.find_spec(m) is None
            or importlib.util.find_spec(m).origin is None]


def test_launch_description_builds():
    if _MISSING:
        pytest.skip(f"ROS launch stack not installed here (missing: {', '.join(_MISSING)})")
    spec = importlib.util.spec_from_file_location("follow_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    names = {a.name for a in ld.entities if type(a).__name__ == "DeclareLaunchArgument"}
    assert set(launch_plan.launch_arguments("/x")) == names
