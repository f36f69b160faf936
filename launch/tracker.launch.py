"""Launch the RMAN tracker node (rman_ros `tracker_node`, node name `rman_tracker`).

    ros2 launch rman_ros tracker.launch.py image_topic:=/camera/image_raw init_topic:=/target_box

Arguments: params_file, namespace, use_sim_time, image_topic, init_topic, device, log_level,
discovery_range. Works on Humble, Jazzy and Kilted (plain launch_ros Node; the node activates itself
through its `autostart` parameter, so no lifecycle manager is needed).

DDS discovery: the node's environment gets ROS_AUTOMATIC_DISCOVERY_RANGE=<discovery_range>. The
argument defaults to the caller's ROS_AUTOMATIC_DISCOVERY_RANGE when that is set, else LOCALHOST:
an explicit setting is always respected, and an unset one does not leak discovery traffic to the
network. Pass discovery_range:=SUBNET to talk to other machines. On Humble (which predates that
variable) LOCALHOST is mapped to ROS_LOCALHOST_ONLY=1 unless ROS_LOCALHOST_ONLY is already set.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _node(context):
    params_file = LaunchConfiguration("params_file").perform(context)
    device = LaunchConfiguration("device").perform(context)
    overrides = {"use_sim_time": _truthy(LaunchConfiguration("use_sim_time").perform(context))}
    if device:
        overrides["device"] = device
    actions = []
    if (os.environ.get("ROS_DISTRO") == "humble" and "ROS_LOCALHOST_ONLY" not in os.environ
            and LaunchConfiguration("discovery_range").perform(context).upper() == "LOCALHOST"):
        actions.append(SetEnvironmentVariable("ROS_LOCALHOST_ONLY", "1"))
    actions.append(Node(
        package="rman_ros",
        executable="tracker_node",
        name="rman_tracker",
        namespace=LaunchConfiguration("namespace"),
        parameters=[params_file, overrides],
        remappings=[("image", LaunchConfiguration("image_topic")),
                    ("init", LaunchConfiguration("init_topic"))],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
        emulate_tty=True,
    ))
    return actions


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("rman_ros"), "config", "tracker.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML with the node's parameters (/**: ros__parameters:)"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock time"),
        DeclareLaunchArgument("image_topic", default_value="image",
                              description="remap target of the node's `image` subscription"),
        DeclareLaunchArgument("init_topic", default_value="init",
                              description="remap target of the node's `init` subscription "
                                          "(vision_msgs/Detection2D)"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto | cpu | cuda | cuda:N ('' = keep the params file value)"),
        DeclareLaunchArgument("log_level", default_value="info", description="node log level"),
        DeclareLaunchArgument("discovery_range",
                              default_value=EnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                                                                default_value="LOCALHOST"),
                              description="ROS_AUTOMATIC_DISCOVERY_RANGE for the node "
                                          "(default: the caller's value, else LOCALHOST)"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", LaunchConfiguration("discovery_range")),
        OpaqueFunction(function=_node),
    ])
