"""ROS 2 glue for the RMAN tracker (rclpy). Tracking code lives in rman_ros.core.

Modules:
  conversions   sensor_msgs/Image <-> numpy, boxes <-> vision_msgs/Detection2D
  params        ROS parameter descriptors generated from RMANConfig metadata
  frame_buffer  stamped ring buffer of recent frames (init stamp matching)
  diagnostics   rate / latency statistics and the DiagnosticArray builder
  validation    checks of stamps, init boxes and image sizes from outside
  init_matcher  which frame an init box starts its track on
  node          the lifecycle node TrackerNode
  tracker_node  the `tracker_node` executable: main(), signals, the spin loop
  launch_args   launch/tracker.launch.py's argument logic (no `launch` import)
"""
