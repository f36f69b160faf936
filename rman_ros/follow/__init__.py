"""Following a tracked target with visual servoing (the `follow_node` executable, node `rman_follower`).

Modules:
  pinhole     camera intrinsics, bearing, distance and 3-D position of a box (no ROS)
  controller  gains and the yaw-rate / forward-speed law with deadband and saturation (no ROS)
  params      the follower's ROS parameters (specs with descriptors) and their conversion to gains
  messages    Detection2DArray -> target box, Twist / PoseStamped builders
  tf_bridge   optional tf2_ros support (TF broadcast, pose into `base_frame`)
  follow_node the lifecycle node and its main()
  launch_plan the launch file's argument logic as plain functions (testable without `launch`)
  sim, sim_loop, sim_demo  a simulated pan camera closed around the follower (tests, `make demo-follow`)
"""
