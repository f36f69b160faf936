"""The argument logic of launch/follow.launch.py as plain functions (no `launch` import), so that tests,
the demo and scripts can build the same two nodes without the ROS launch stack.

The tracker's arguments and their rules are tracker.launch.py's (rman_ros.ros.launch_args): use_sim_time and
device override the params files only when given, a missing params file or a bad namespace is an error, the
log level is a ROS argument, and the discovery range is resolved by launch_args.discovery_environment.

`node_specs(args)` gives one dict per node with the keyword arguments of launch_ros.actions.Node
(package, executable, name, namespace, parameters, remappings, ros_arguments); `command(spec)` turns one
into a `python -m ... --ros-args ...` command line that starts the same node as a plain process, and
`start(spec)` starts it (the demo and the tests do; stop it with rman_ros.bag.launcher.stop_node).
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Mapping

from rman_ros.ros import launch_args

PACKAGE = "rman_ros"
TRACKER = {"executable": "tracker_node", "name": "rman_tracker", "module": "rman_ros.ros.tracker_node"}
FOLLOWER = {"executable": "follow_node", "name": "rman_follower", "module": "rman_ros.follow.follow_node"}


def launch_arguments(share_dir: str) -> dict:
    """{name: (default, description)} of follow.launch.py: tracker.launch.py's arguments, for both nodes
    where they concern both, plus the follower's. `share_dir` is the package's share directory."""
    args = launch_args.launch_arguments(os.path.join(share_dir, "config", "tracker.yaml"))
    args.update({
        "params_file": (args["params_file"][0], "tracker parameters YAML; a missing file is an error"),
        "follow_params_file": (os.path.join(share_dir, "config", "follow.yaml"),
                               "follower parameters YAML; a missing file is an error"),
        "namespace": ("", "namespace of both nodes (one per camera)"),
        "use_sim_time": ("", "true | false: both nodes use /clock time ('' = keep the params files' values, "
                             "else false)"),
        "camera_info_topic": ("camera_info", "remap target of the follower's `camera_info` subscription"),
        "cmd_vel_topic": ("cmd_vel", "remap target of the follower's `cmd_vel` publication"),
        "log_level": ("info", "log level of both nodes (debug, info, warn, error, fatal)"),
    })
    return args


def default_arguments(share_dir: str) -> dict:
    """Every argument's default (plain strings, as `--show-args` shows them)."""
    return {name: default for name, (default, _) in launch_arguments(share_dir).items()}


def node_specs(args: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> list:
    """The tracker and the follower, in one namespace, from the launch arguments (strings, as
    LaunchConfiguration gives them). Both use relative topic names, so the follower's `detections` is the
    tracker's output in that namespace. ValueError for a bad argument (see launch_args.node_setup)."""
    tracker = launch_args.node_setup(args, environ)
    sim_time = launch_args.sim_time(args)
    follow_params = launch_args.params_file(args, "follow_params_file")
    common = {"package": PACKAGE, "namespace": tracker.namespace}
    return [
        dict(common, executable=TRACKER["executable"], name=TRACKER["name"], parameters=tracker.parameters,
             remappings=tracker.remappings, ros_arguments=list(tracker.ros_arguments)),
        dict(common, executable=FOLLOWER["executable"], name=FOLLOWER["name"],
             parameters=[follow_params] + ([sim_time] if sim_time else []),
             remappings=[("camera_info", args.get("camera_info_topic", "camera_info")),
                         ("cmd_vel", args.get("cmd_vel_topic", "cmd_vel"))],
             ros_arguments=list(tracker.ros_arguments)),
    ]


def _param_value(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def command(spec: Mapping, python: str = sys.executable) -> list:
    """A node spec as a plain process: `python -m <module> --ros-args ...` (what `ros2 run` with the
    same parameters, remappings, name and namespace does)."""
    module = {TRACKER["executable"]: TRACKER["module"], FOLLOWER["executable"]: FOLLOWER["module"]}
    if spec["executable"] not in module:
        raise ValueError(f"unknown executable {spec['executable']!r}")
    out = [python, "-m", module[spec["executable"]], *spec.get("arguments", []), "--ros-args",
           *spec.get("ros_arguments", [])]
    for item in spec.get("parameters", []):
        if isinstance(item, Mapping):
            for key, value in item.items():
                out += ["-p", f"{key}:={_param_value(value)}"]
        else:
            out += ["--params-file", str(item)]
    out += [arg for src, dst in spec.get("remappings", []) for arg in ("-r", f"{src}:={dst}")]
    out += ["-r", f"__node:={spec['name']}"]
    if spec.get("namespace"):
        out += ["-r", f"__ns:=/{spec['namespace']}"]
    return out


def start(spec: Mapping, log_path=None) -> subprocess.Popen:
    """Start `command(spec)` with loopback-only discovery and this checkout importable; stdout and
    stderr go to `log_path` (or are inherited). Stop it with rman_ros.bag.launcher.stop_node."""
    from rman_ros.bag.launcher import node_env

    out = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115 - closed by stop_node
    proc = subprocess.Popen(command(spec), env=node_env(), stdout=out,
                            stderr=subprocess.STDOUT if out else None)
    proc._rman_log = out  # type: ignore[attr-defined] - stop_node closes it
    return proc
