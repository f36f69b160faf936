"""ROS 2 glue for the RMAN tracker (rclpy). Tracking code lives in rman_ros.core.

Modules:
  conversions   sensor_msgs/Image <-> numpy, boxes <-> vision_msgs/Detection2D
  params        ROS parameter descriptors generated from RMANConfig metadata
  frame_buffer  stamped ring buffer of recent frames (init stamp matching)
  diagnostics   rate / latency statistics and the DiagnosticArray builder
  tracker_node  the lifecycle node (`tracker_node` executable)
"""
