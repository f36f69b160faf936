"""launch/tracker.launch.py: its argument logic (rman_ros.ros.launch_args) and a static check everywhere,
and a launch_pytest test where the ROS launch stack is installed (launch, launch_ros, launch_pytest and an
installed rman_ros)."""
import ast
import importlib.util
from pathlib import Path

import pytest

from rman_ros.ros.launch_args import launch_arguments, node_setup

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "tracker.launch.py"
PARAMS = REPO / "config" / "tracker.yaml"
ARGS = {"params_file", "namespace", "use_sim_time", "image_topic", "init_topic", "device", "log_level",
        "discovery_range"}


def _args(**kw):
    values = {name: default for name, (default, _) in launch_arguments(str(PARAMS)).items()}
    values.update(kw)
    return values


def test_launch_arguments_are_the_documented_ones_with_plain_defaults():
    args = launch_arguments(str(PARAMS))
    assert set(args) == ARGS
    assert all(isinstance(default, str) and text for default, text in args.values())  # --show-args prints them


def test_use_sim_time_and_device_override_the_params_file_only_when_given():
    setup = node_setup(_args(), environ={})
    assert setup.parameters == [str(PARAMS)]  # a params file's use_sim_time: true stands
    setup = node_setup(_args(use_sim_time="True", device="cuda:1"), environ={})
    assert setup.parameters == [str(PARAMS), {"use_sim_time": True, "device": "cuda:1"}]
    with pytest.raises(ValueError, match="use_sim_time"):
        node_setup(_args(use_sim_time="maybe"), environ={})


def test_a_missing_params_file_is_an_error():
    with pytest.raises(ValueError, match="no such file"):
        node_setup(_args(params_file="/nonexistent/tracker.yaml"), environ={})


def test_remaps_log_level_and_discovery_range():
    setup = node_setup(_args(image_topic="/cam/image_raw", init_topic="/box", log_level="debug",
                             discovery_range="subnet"), environ={"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"})
    assert setup.remappings == [("image", "/cam/image_raw"), ("init", "/box")]
    assert setup.ros_arguments == ["--log-level", "debug"]
    assert setup.env == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}  # upper-cased, the argument wins
    assert node_setup(_args(), environ={"ROS_AUTOMATIC_DISCOVERY_RANGE": "subnet"}).env == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    assert node_setup(_args(), environ={}).env == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    assert node_setup(_args(), environ={"ROS_DISTRO": "humble"}).env == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}
    with pytest.raises(ValueError, match="discovery range"):
        node_setup(_args(discovery_range="everywhere"), environ={})


def test_the_namespace_is_checked_and_given_without_slashes():
    assert node_setup(_args(namespace="/robot1/cam/"), environ={}).namespace == "robot1/cam"
    assert node_setup(_args(), environ={}).namespace == ""
    for bad in ("1cam", "cam left", "cam//x"):
        with pytest.raises(ValueError, match="namespace"):
            node_setup(_args(namespace=bad), environ={})


def test_launch_file_uses_the_argument_logic():
    src = LAUNCH_FILE.read_text()
    tree = ast.parse(src)
    calls = {getattr(n.func, "id", "") for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert {"launch_arguments", "node_setup", "DeclareLaunchArgument", "Node"} <= calls
    node_kw = {kw.arg for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node"
               for kw in n.keywords}
    assert {"ros_arguments", "parameters", "remappings", "namespace"} <= node_kw and "arguments" not in node_kw
    assert 'executable="tracker_node"' in src and 'name="rman_tracker"' in src
    assert "EnvironmentVariable" not in calls  # --show-args would print the substitution, not a value


def _installed(name: str) -> bool:
    """A real installed package: not missing, and not this repository's own `launch/` folder, which Python
    finds as a namespace package (no origin) when the repository root is on sys.path."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:
        return False
    return REPO not in Path(spec.origin).resolve().parents


def test_the_skip_check_does_not_take_this_repository_for_the_launch_package(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    spec = importlib.util.find_spec("launch")
    if spec is not None and spec.origin is None:  # the repository's folder is what Python finds
        assert not _installed("launch")


_MISSING = [m for m in ("launch", "launch_ros", "launch_pytest") if not _installed(m)]

if _MISSING:
    def test_launch_pytest_tracker_comes_up():
        pytest.skip(f"ROS launch stack not installed here (missing: {', '.join(_MISSING)}); "
                    "this test runs on a full ROS 2 install (Humble/Jazzy/Kilted)")
else:  # pragma: no cover - only on machines with the launch stack
    import launch
    import launch_pytest
    from launch.actions import IncludeLaunchDescription, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    EXITS = {}  # process name -> return code, filled when launch shuts the node down

    @pytest.fixture
    def sim_time_params(tmp_path_factory):
        path = tmp_path_factory.mktemp("launch") / "params.yaml"
        path.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n    label: launch_test\n")
        return path

    @launch_pytest.fixture
    def launch_description(sim_time_params):
        return launch.LaunchDescription([
            RegisterEventHandler(OnProcessExit(on_exit=lambda event, _: EXITS.update({event.name: event.returncode}))),
            IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
                                     launch_arguments={"device": "cpu", "namespace": "lt", "image_topic": "/lt/cam",
                                                       "init_topic": "/lt/box",
                                                       "params_file": str(sim_time_params)}.items()),
            launch_pytest.actions.ReadyToTest(),
        ])

    @pytest.mark.launch(fixture=launch_description)
    def test_launch_pytest_tracker_comes_up():
        import rclpy
        from lifecycle_msgs.srv import GetState
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter_client import AsyncParameterClient
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D

        from test_node_support import wait_for

        ctx = rclpy.Context()
        rclpy.init(context=ctx)
        try:
            node = rclpy.create_node("launch_probe", context=ctx)
            executor = SingleThreadedExecutor(context=ctx)
            executor.add_node(node)
            wait_for(lambda: ("rman_tracker", "/lt") in node.get_node_names_and_namespaces(), 120,
                     what="node /lt/rman_tracker")
            image = node.create_publisher(Image, "/lt/cam", 1)
            init = node.create_publisher(Detection2D, "/lt/box", 1)
            wait_for(lambda: image.get_subscription_count() > 0 and init.get_subscription_count() > 0, 120,
                     what="the tracker's subscriptions on the remapped /lt/cam and /lt/box")

            def done(fut):
                executor.spin_until_future_complete(fut, timeout_sec=10)
                assert fut.done()
                return fut.result()

            get_state = node.create_client(GetState, "/lt/rman_tracker/get_state")
            assert get_state.wait_for_service(timeout_sec=60)
            wait_for(lambda: done(get_state.call_async(GetState.Request())).current_state.label == "active", 120,
                     period=0.5, what="lifecycle state active")
            params = AsyncParameterClient(node, "/lt/rman_tracker")
            assert params.wait_for_services(timeout_sec=30)
            values = done(params.get_parameters(["use_sim_time", "label", "device"])).values
            assert values[0].bool_value  # from the params file, not overridden by the launch file
            assert values[1].string_value == "launch_test" and values[2].string_value == "cpu"
            node.destroy_node()
        finally:
            rclpy.shutdown(context=ctx)
        yield
        # after launch shut the node down (SIGINT): it exited cleanly
        assert EXITS and all(rc == 0 for rc in EXITS.values()), EXITS
