"""Launch the RMAN tracker node (rman_ros `tracker_node`, node name `rman_tracker`).

    ros2 launch rman_ros tracker.launch.py image_topic:=/camera/image_raw init_topic:=/target_box

Arguments (`--show-args` lists them): params_file, namespace, use_sim_time, image_topic, init_topic,
device, log_level, discovery_range, transport_profile. Works on Humble, Jazzy and Kilted (plain
launch_ros Node; the node activates itself through its `autostart` parameter, so no lifecycle manager
is needed).

The arguments become the node's set-up in rman_ros.ros.launch_args.node_setup (a plain function, unit
tested without the launch stack): use_sim_time and device override the params file only when given; a
missing params file or a bad namespace stops the launch with an error; the log level goes to the node
as a ROS argument.

DDS discovery: the node's environment gets ROS_AUTOMATIC_DISCOVERY_RANGE=<discovery_range, upper-cased>.
The argument defaults to the caller's ROS_AUTOMATIC_DISCOVERY_RANGE when that is set, else LOCALHOST:
an explicit setting is always respected, and an unset one does not leak discovery traffic to the
network. Pass discovery_range:=SUBNET to talk to other machines. On Humble (which predates that
variable) LOCALHOST is mapped to ROS_LOCALHOST_ONLY=1 unless ROS_LOCALHOST_ONLY is already set.

Transport: the node's environment gets FASTDDS_DEFAULT_PROFILES_FILE=<transport_profile>, by default the
installed config/fastdds/shm_large_images.xml (Fast DDS shared memory with a 32 MiB segment, so that
best-effort images larger than 512 KiB are not lost between processes on this host; UDPv4 on loopback).
transport_profile:='' sets nothing (the caller's FASTDDS_DEFAULT_PROFILES_FILE, if any, stays). That
profile is for one host: with discovery_range SUBNET or SYSTEM_DEFAULT it is not applied (a profile of
your own is). Give the camera driver the same profile: the publisher's segment must hold the images.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rman_ros.ros.launch_args import launch_arguments, node_setup, transport_arguments


def _arguments():
    share = get_package_share_directory("rman_ros")
    return {**launch_arguments(os.path.join(share, "config", "tracker.yaml")), **transport_arguments(share)}


def _node(context):
    values = {name: LaunchConfiguration(name).perform(context) for name in _arguments()}
    setup = node_setup(values)  # ValueError (e.g. a missing params file) stops the launch
    actions = [SetEnvironmentVariable(name, value) for name, value in setup.env.items()]
    actions.append(Node(
        package="rman_ros",
        executable="tracker_node",
        name="rman_tracker",
        namespace=setup.namespace,
        parameters=setup.parameters,
        remappings=setup.remappings,
        ros_arguments=setup.ros_arguments,
        output="screen",
        emulate_tty=True,
    ))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in _arguments().items()]
        + [OpaqueFunction(function=_node)])
