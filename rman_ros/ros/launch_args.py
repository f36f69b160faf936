"""launch/tracker.launch.py's arguments and how they become the node's set-up, as plain functions: the
launch files call them (follow.launch.py through rman_ros.follow.launch_plan), and the unit tests call them
where the ROS launch stack is not installed.

No import of `launch` here (nor of torch): the launch file imports this module at launch time.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from rman_ros import transport

DISCOVERY_RANGES = ("LOCALHOST", "SUBNET", "SYSTEM_DEFAULT", "OFF")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def launch_arguments(default_params_file: str) -> dict:
    """{name: (default, description)} of the launch file's arguments. Defaults are plain strings, so that
    `--show-args` shows them as they are; '' means "leave it to the params file / the environment"."""
    return {
        "params_file": (default_params_file, "YAML with the node's parameters (/**: ros__parameters:); "
                                             "a missing file is an error"),
        "namespace": ("", "node namespace"),
        "use_sim_time": ("", "true | false: use /clock time ('' = keep the params file's value, else false)"),
        "image_topic": ("image", "remap target of the node's `image` subscription"),
        "init_topic": ("init", "remap target of the node's `init` subscription (vision_msgs/Detection2D)"),
        "device": ("", "auto | cpu | cuda | cuda:N ('' = keep the params file's value)"),
        "log_level": ("info", "node log level (debug, info, warn, error, fatal)"),
        "discovery_range": ("", "ROS_AUTOMATIC_DISCOVERY_RANGE for the node: LOCALHOST, SUBNET, SYSTEM_DEFAULT "
                                "or OFF ('' = the caller's ROS_AUTOMATIC_DISCOVERY_RANGE, else LOCALHOST)"),
    }


_NAMESPACE = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?/?$")


def transport_arguments(share_dir: str) -> dict:
    """{name: (default, description)} of the transport argument both launch files add: `transport_profile`,
    by default the installed Fast DDS profile (`share_dir` is the package's share directory)."""
    return {
        "transport_profile": (os.path.join(share_dir, *transport.PROFILE_SUBDIR, transport.PROFILE_NAME),
                              "Fast DDS XML profile for the launched nodes (FASTDDS_DEFAULT_PROFILES_FILE): "
                              "default, shared memory with a 32 MiB segment for large images and UDPv4 on "
                              "loopback (applied with LOCALHOST or OFF discovery only); '' = set nothing (the "
                              "caller's FASTDDS_DEFAULT_PROFILES_FILE, if any, else Fast DDS's defaults); a "
                              "missing file is an error"),
    }


def transport_environment(profile: str, environ: Mapping[str, str] = os.environ, discovery_range: str = "") -> dict:
    """The environment variables that make a launched node load the Fast DDS profile `profile`
    (FASTDDS_DEFAULT_PROFILES_FILE, absolute; on Humble also FASTRTPS_DEFAULT_PROFILES_FILE). '' = {}.
    The package's own profile (shm_large_images.xml) keeps UDP on loopback, so with `discovery_range`
    SUBNET or SYSTEM_DEFAULT (the resolved range, upper-case) it is not applied ({}): that range means
    other machines. ValueError when the file does not exist (Fast DDS would ignore it and use its defaults)."""
    try:
        env = transport.profile_environment(profile, environ)
    except ValueError as exc:
        raise ValueError(f"launch argument transport_profile: {exc}") from None
    if discovery_range.strip().upper() in ("SUBNET", "SYSTEM_DEFAULT") and \
            os.path.basename(env.get(transport.PROFILE_ENV, "")) == transport.PROFILE_NAME:
        return {}
    return env


@dataclass
class NodeSetup:
    """What launch_ros' Node gets: `parameters` (the params file, then the overrides), `remappings`,
    `ros_arguments`, `namespace`, and `env`, the environment variables to set for the node."""
    parameters: list
    remappings: list
    ros_arguments: list
    env: dict = field(default_factory=dict)
    namespace: str = ""


def _bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"launch argument {name}:={text!r}: expected true or false")


def params_file(args: Mapping[str, str], name: str = "params_file") -> str:
    """The params file the argument `name` names; ValueError when there is no such file."""
    path = args.get(name, "").strip()
    if not os.path.isfile(path):
        raise ValueError(f"launch argument {name}:={path!r}: no such file")
    return path


def sim_time(args: Mapping[str, str]) -> dict:
    """{'use_sim_time': bool} when the use_sim_time argument is given, else {}: the params file's value stands."""
    text = args.get("use_sim_time", "").strip()
    return {"use_sim_time": _bool("use_sim_time", text)} if text else {}


def log_arguments(args: Mapping[str, str]) -> list:
    """The node's ROS arguments for the log_level argument (launch_ros' `ros_arguments`)."""
    return ["--log-level", args.get("log_level", "info").strip() or "info"]


def check_namespace(text: str) -> str:
    """'' or a valid ROS namespace, returned without surrounding slashes; ValueError otherwise."""
    if not _NAMESPACE.match(text.strip()):
        raise ValueError(f"launch argument namespace:={text!r}: not a valid ROS namespace (letters, digits, _ and "
                         "/, each part starting with a letter or _)")
    return text.strip().strip("/")


def node_setup(args: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> NodeSetup:
    """The node's set-up from the launch arguments' values (strings). ValueError for a missing params file,
    a use_sim_time that is not a boolean, a bad namespace, an unknown discovery range or a missing transport
    profile: launch then stops with it. `env` holds the discovery variables, and the transport profile's
    when the `transport_profile` argument is given and not '' (see transport_environment)."""
    overrides = sim_time(args)
    if args.get("device", "").strip():  # only when given: else the params file's value stands
        overrides["device"] = args["device"].strip()
    discovery = discovery_environment(args.get("discovery_range", ""), environ)
    return NodeSetup(
        parameters=[params_file(args)] + ([overrides] if overrides else []),
        remappings=[("image", args.get("image_topic", "image")), ("init", args.get("init_topic", "init"))],
        ros_arguments=log_arguments(args),
        env={**discovery, **transport_environment(args.get("transport_profile", ""), environ,
                                                  discovery["ROS_AUTOMATIC_DISCOVERY_RANGE"])},
        namespace=check_namespace(args.get("namespace", "")),
    )


def discovery_environment(discovery_range: str, environ: Mapping[str, str] = os.environ) -> dict:
    """The environment variables that give a launched node `discovery_range` (upper-cased; '' = the caller's
    ROS_AUTOMATIC_DISCOVERY_RANGE, else LOCALHOST). On Humble, which predates the variable, LOCALHOST is
    also ROS_LOCALHOST_ONLY=1 unless the caller set that. ValueError for an unknown range."""
    discovery = (discovery_range.strip() or environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "").strip()
                 or "LOCALHOST").upper()
    if discovery not in DISCOVERY_RANGES:
        raise ValueError(f"discovery range {discovery!r}: expected one of {', '.join(DISCOVERY_RANGES)}")
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": discovery}
    if environ.get("ROS_DISTRO") == "humble" and "ROS_LOCALHOST_ONLY" not in environ and discovery == "LOCALHOST":
        env["ROS_LOCALHOST_ONLY"] = "1"
    return env
