"""The argument logic of launch/follow.launch.py as plain functions (no `launch` import), so that tests,
the demo and scripts can build the same two nodes without the ROS launch stack.

`node_specs(args)` gives one dict per node with the keyword arguments of launch_ros.actions.Node
(package, executable, name, namespace, parameters, remappings, arguments); `command(spec)` turns one
into a `python -m ... --ros-args ...` command line that starts the same node as a plain process, and
`start(spec)` starts it (the demo and the tests do; stop it with rman_ros.bag.launcher.stop_node).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Mapping, Optional

PACKAGE = "rman_ros"
TRACKER = {"executable": "tracker_node", "name": "rman_tracker", "module": "rman_ros.ros.tracker_node"}
FOLLOWER = {"executable": "follow_node", "name": "rman_follower", "module": "rman_ros.follow.follow_node"}

# name -> (default, description); a default of None is filled in by default_arguments()
ARGUMENTS = {
    "params_file": (None, "tracker parameters YAML (default: the package's config/tracker.yaml)"),
    "follow_params_file": (None, "follower parameters YAML (default: the package's config/follow.yaml)"),
    "namespace": ("", "namespace of both nodes (one per camera)"),
    "use_sim_time": ("false", "use /clock time"),
    "image_topic": ("image", "remap target of the tracker's `image` subscription"),
    "init_topic": ("init", "remap target of the tracker's `init` subscription (vision_msgs/Detection2D)"),
    "camera_info_topic": ("camera_info", "remap target of the follower's `camera_info` subscription"),
    "cmd_vel_topic": ("cmd_vel", "remap target of the follower's `cmd_vel` publication"),
    "device": ("", "tracker device: auto | cpu | cuda | cuda:N ('' = keep the params file value)"),
    "log_level": ("info", "log level of both nodes"),
    "discovery_range": (None, "ROS_AUTOMATIC_DISCOVERY_RANGE for the nodes (default: the caller's value, "
                              "else LOCALHOST)"),
}

_NAMESPACE = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?/?$")


def default_arguments(share_dir: str, environ: Optional[Mapping[str, str]] = None) -> dict:
    """Every argument's default; `share_dir` is the package's share directory."""
    environ = os.environ if environ is None else environ
    out = {name: default for name, (default, _) in ARGUMENTS.items()}
    out["params_file"] = os.path.join(share_dir, "config", "tracker.yaml")
    out["follow_params_file"] = os.path.join(share_dir, "config", "follow.yaml")
    out["discovery_range"] = environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return out


def parse_bool(name: str, text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name}:={text!r} is not a boolean (true/false)")


def check_namespace(text: str) -> str:
    """'' or a valid ROS namespace, returned without surrounding slashes; ValueError otherwise."""
    if not _NAMESPACE.match(text.strip()):
        raise ValueError(f"namespace:={text!r} is not a valid ROS namespace (letters, digits, _ and /, "
                         "each part starting with a letter or _)")
    return text.strip().strip("/")


def node_specs(args: Mapping[str, str]) -> list:
    """The tracker and the follower, in one namespace, from the launch arguments (strings, as
    LaunchConfiguration gives them; missing ones take ARGUMENTS' defaults). Both use relative topic
    names, so the follower's `detections` is the tracker's output in that namespace."""
    missing = [n for n in ("params_file", "follow_params_file") if not args.get(n)]
    if missing:
        raise ValueError(f"missing launch argument(s): {', '.join(missing)}")
    a = {name: args.get(name, default) for name, (default, _) in ARGUMENTS.items()}
    namespace = check_namespace(a["namespace"])
    sim_time = parse_bool("use_sim_time", a["use_sim_time"])
    tracker_overrides = {"use_sim_time": sim_time}
    if a["device"]:
        tracker_overrides["device"] = a["device"]
    log_args = ["--ros-args", "--log-level", a["log_level"]]
    common = {"package": PACKAGE, "namespace": namespace, "arguments": log_args}
    return [
        dict(common, executable=TRACKER["executable"], name=TRACKER["name"],
             parameters=[a["params_file"], tracker_overrides],
             remappings=[("image", a["image_topic"]), ("init", a["init_topic"])]),
        dict(common, executable=FOLLOWER["executable"], name=FOLLOWER["name"],
             parameters=[a["follow_params_file"], {"use_sim_time": sim_time}],
             remappings=[("camera_info", a["camera_info_topic"]), ("cmd_vel", a["cmd_vel_topic"])]),
    ]


def environment(args: Mapping[str, str], environ: Optional[Mapping[str, str]] = None) -> dict:
    """Environment variables the launch file sets for the nodes: the discovery range, and on Humble
    (which predates it) ROS_LOCALHOST_ONLY=1 for LOCALHOST unless the caller set that variable."""
    environ = os.environ if environ is None else environ
    rng = (args.get("discovery_range") or environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "LOCALHOST").upper()
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": rng}
    if environ.get("ROS_DISTRO") == "humble" and "ROS_LOCALHOST_ONLY" not in environ and rng == "LOCALHOST":
        env["ROS_LOCALHOST_ONLY"] = "1"
    return env


def _param_value(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def command(spec: Mapping, python: str = sys.executable) -> list:
    """A node spec as a plain process: `python -m <module> --ros-args ...` (what `ros2 run` with the
    same parameters, remappings, name and namespace does)."""
    module = {TRACKER["executable"]: TRACKER["module"], FOLLOWER["executable"]: FOLLOWER["module"]}
    if spec["executable"] not in module:
        raise ValueError(f"unknown executable {spec['executable']!r}")
    args = list(spec.get("arguments", []))
    out = [python, "-m", module[spec["executable"]]] + (args if "--ros-args" in args else ["--ros-args"] + args)
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
