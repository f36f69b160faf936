"""Launch the RMAN tracker and the follower in one namespace (a camera that follows its target).

    ros2 launch rman_ros follow.launch.py namespace:=cam image_topic:=/cam/image_raw \\
        camera_info_topic:=/cam/camera_info cmd_vel_topic:=/cmd_vel

`tracker_node` (node `rman_tracker`) boxes the target in `image` once it gets a box on `init`;
`follow_node` (node `rman_follower`) turns its `detections` and `camera_info` into `cmd_vel` and
`target_pose`. Both use relative topic names, so within a namespace they find each other.

Arguments: the tracker's (params_file, namespace, use_sim_time, image_topic, init_topic, device,
log_level, discovery_range, transport_profile, with the rules of tracker.launch.py: namespace,
use_sim_time, log_level, discovery_range and transport_profile apply to both nodes, use_sim_time and
device override the params files only when given, a missing params file stops the launch) plus
follow_params_file (default: the package's config/follow.yaml), camera_info_topic and cmd_vel_topic.
The argument logic is rman_ros.follow.launch_plan on top of rman_ros.ros.launch_args (plain functions,
unit-tested without the launch stack).

Two cameras, each with its own tracker and follower, in two namespaces:

    ros2 launch rman_ros follow.launch.py namespace:=cam_left  image_topic:=/cam_left/image_raw \\
        camera_info_topic:=/cam_left/camera_info
    ros2 launch rman_ros follow.launch.py namespace:=cam_right image_topic:=/cam_right/image_raw \\
        camera_info_topic:=/cam_right/camera_info

This gives /cam_left/detections, /cam_left/cmd_vel, /cam_left/rman_follower/enable, ... and the same
under /cam_right. From one launch file of your own:

    import os
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import GroupAction, IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    def generate_launch_description():
        follow = os.path.join(get_package_share_directory("rman_ros"), "launch", "follow.launch.py")
        return LaunchDescription([
            GroupAction([IncludeLaunchDescription(
                PythonLaunchDescriptionSource(follow),
                launch_arguments={"namespace": cam, "image_topic": f"/{cam}/image_raw",
                                  "camera_info_topic": f"/{cam}/camera_info"}.items())])
            for cam in ("cam_left", "cam_right")])
"""
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rman_ros.follow.launch_plan import launch_arguments, node_specs
from rman_ros.ros.launch_args import discovery_environment, transport_arguments, transport_environment


def _arguments():
    share = get_package_share_directory("rman_ros")
    return {**launch_arguments(share), **transport_arguments(share)}


def _nodes(context):
    values = {name: LaunchConfiguration(name).perform(context) for name in _arguments()}
    specs = node_specs(values)  # ValueError (e.g. a missing params file) stops the launch
    env = discovery_environment(values["discovery_range"])  # for both nodes
    env.update(transport_environment(values["transport_profile"],
                                     discovery_range=env["ROS_AUTOMATIC_DISCOVERY_RANGE"]))
    actions = [SetEnvironmentVariable(name, value) for name, value in env.items()]
    actions += [Node(**spec, output="screen", emulate_tty=True) for spec in specs]
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in _arguments().items()]
        + [OpaqueFunction(function=_nodes)])
