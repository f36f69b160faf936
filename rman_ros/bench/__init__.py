"""RMAN evaluation toolkit (pure Python, no ROS): ``python -m rman_ros.bench --help``.

Modules: datasets (layouts/loaders), metrics (OTB/got10k OPE), vot (supervised
experiment), trackers (adapters), runner (parallel resumable runs), report
(tables/plots/scores.json), ablation, visualize.
"""
