"""rman_ros: RMAN (Recurrent Memory Activation Networks) visual tracking for ROS 2.

Subpackages:
  core   the tracker itself (pure Python + PyTorch, no ROS imports)
  bench  OTB/VOT-style evaluation toolkit (no ROS imports)
  ros    the ROS 2 node (rclpy glue around core)
  bag    rosbag2 (MCAP) record / replay / scoring tools
  follow the follow controller (visual servoing) and its node
  transport  the Fast DDS transport profile for large images, and a transport benchmark
"""

__version__ = "0.1.0"
