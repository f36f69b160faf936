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

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "follow.launch.py"
FOLLOW_YAML = ROOT / "config" / "follow.yaml"
TRACKER_ARGS = {"params_file", "namespace", "use_sim_time", "image_topic", "init_topic", "device", "log_level",
                "discovery_range"}


def test_arguments_are_the_trackers_plus_the_followers():
    assert TRACKER_ARGS | {"follow_params_file"} <= set(launch_plan.ARGUMENTS)
    d = launch_plan.default_arguments("/opt/share/rman_ros", {})
    assert d["follow_params_file"] == os.path.join("/opt/share/rman_ros", "config", "follow.yaml")
    assert d["params_file"] == os.path.join("/opt/share/rman_ros", "config", "tracker.yaml")
    assert d["discovery_range"] == "LOCALHOST" and d["namespace"] == ""
    subnet = launch_plan.default_arguments("/x", {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    assert subnet["discovery_range"] == "SUBNET"


def test_node_specs_put_tracker_and_follower_in_one_namespace():
    args = launch_plan.default_arguments("/share", {})
    args.update(namespace="/cam_left/", image_topic="/cam_left/image_raw", device="cuda", use_sim_time="true",
                cmd_vel_topic="/cmd_vel")
    tracker, follower = launch_plan.node_specs(args)
    assert (tracker["executable"], tracker["name"]) == ("tracker_node", "rman_tracker")
    assert (follower["executable"], follower["name"]) == ("follow_node", NODE_NAME)
    assert tracker["namespace"] == follower["namespace"] == "cam_left"
    assert tracker["parameters"] == ["/share/config/tracker.yaml", {"use_sim_time": True, "device": "cuda"}]
    assert follower["parameters"] == ["/share/config/follow.yaml", {"use_sim_time": True}]
    assert dict(tracker["remappings"]) == {"image": "/cam_left/image_raw", "init": "init"}
    assert dict(follower["remappings"]) == {"camera_info": "camera_info", "cmd_vel": "/cmd_vel"}
    # `detections` is not remapped: the follower reads the tracker's output in their namespace
    assert all(src != "detections" for spec in (tracker, follower) for src, _ in spec["remappings"])
    assert follower["arguments"] == ["--ros-args", "--log-level", "info"]


def test_node_specs_reject_bad_arguments():
    args = launch_plan.default_arguments("/share", {})
    for bad in ({"namespace": "1cam"}, {"namespace": "cam left"}, {"use_sim_time": "maybe"},
                {"follow_params_file": ""}):
        with pytest.raises(ValueError):
            launch_plan.node_specs(dict(args, **bad))
    nested = launch_plan.node_specs(dict(args, namespace="robot1/cam_front"))
    assert nested[0]["namespace"] == "robot1/cam_front"


def test_environment_keeps_discovery_local_unless_asked():
    assert launch_plan.environment({}, {}) == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    subnet = launch_plan.environment({"discovery_range": "subnet"}, {})
    assert subnet == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    humble = launch_plan.environment({"discovery_range": "LOCALHOST"}, {"ROS_DISTRO": "humble"})
    assert humble["ROS_LOCALHOST_ONLY"] == "1"
    assert "ROS_LOCALHOST_ONLY" not in launch_plan.environment(
        {"discovery_range": "LOCALHOST"}, {"ROS_DISTRO": "humble", "ROS_LOCALHOST_ONLY": "0"})


def test_command_line_matches_the_spec():
    args = dict(launch_plan.default_arguments("/share", {}), namespace="cam_b", log_level="warn")
    follower = launch_plan.node_specs(args)[1]
    follower["parameters"].append({"k_yaw": 2.0, "allow_reverse": True})
    cmd = launch_plan.command(follower, python="py")
    assert cmd[:3] == ["py", "-m", "rman_ros.follow.follow_node"]
    assert cmd[3:6] == ["--ros-args", "--log-level", "warn"]
    text = " ".join(cmd)
    for part in ("--params-file /share/config/follow.yaml", "-p use_sim_time:=false", "-p k_yaw:=2.0",
                 "-p allow_reverse:=true", "-r cmd_vel:=cmd_vel", "-r __node:=rman_follower",
                 "-r __ns:=/cam_b"):
        assert part in text, part
    with pytest.raises(ValueError, match="unknown executable"):
        launch_plan.command(dict(follower, executable="nope"))


def test_launch_file_uses_the_plan_and_documents_two_namespaces():
    src = LAUNCH_FILE.read_text()
    tree = ast.parse(src)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "rman_ros.follow.launch_plan" for alias in node.names}
    assert {"ARGUMENTS", "node_specs", "environment", "default_arguments"} <= imported
    doc = ast.get_docstring(tree)
    assert "namespace:=cam_left" in doc and "namespace:=cam_right" in doc
    assert {"DeclareLaunchArgument", "OpaqueFunction", "Node", "SetEnvironmentVariable"} <= {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


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
    assert set(launch_plan.ARGUMENTS) == names
