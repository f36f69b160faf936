"""ROS 2 glue for the RMAN tracker (rclpy). Tracking code lives in rman_ros.core.

Modules:
  conversions    sensor_msgs/Image <-> numpy, boxes and stamps <-> vision_msgs / builtin_interfaces
  params         ROS parameter descriptors generated from RMANConfig metadata
  frame_buffer   stamped ring buffer of recent frames (init stamp matching)
  diagnostics    rate / latency statistics, problem reports and the DiagnosticArray builder
  validation     checks of stamps, init boxes and image sizes from outside
  init_matcher   which frame an init box starts its track on
  tracking_loop  the worker thread, init matching and the track around the tracker (no ROS)
  detector_init  tracks started from a detector's boxes and from clicked points (no ROS)
  node           the lifecycle node TrackerNode: ROS wiring of the tracking loop
  tracker_node   the `tracker_node` executable: main(), signals, the spin loop
  launch_args    the launch files' argument logic (no `launch` import)
"""
