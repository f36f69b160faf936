"""rosbag2 (MCAP) tools for the tracker node: record-sequence, play, score, bench.

Run `python -m rman_ros.bag --help`. Bags are written/read with the pure-Python `rosbags`
library (no rosbag2_py needed); playback and scoring talk to a running node through rclpy.
"""
