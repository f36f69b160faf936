"""The Fast DDS transport profile for large images between processes on one host, and a benchmark of it.

`config/fastdds/shm_large_images.xml` (installed to share/rman_ros/config/fastdds) gives every Fast DDS
participant that loads it a 32 MiB shared-memory segment and UDPv4 on the loopback interface only. A
process loads it when FASTDDS_DEFAULT_PROFILES_FILE names it at the moment it creates its first
participant (rclpy.init + the first node): set the variable in the environment of the process, not
later from inside it. The launch files, the demo and the node benchmark do
(`rman_ros.ros.launch_args.transport_environment`, `rman_ros.bag.launcher.node_env`).

    python -m rman_ros.transport bench --size 1280x720 --fps 30 --frames 300 --qos best_effort
    python -m rman_ros.transport bench --size 1280x720 --profile ''      # Fast DDS's defaults
    python -m rman_ros.transport path                                    # the profile's path

No import of rclpy here (the launch files and the launcher import this module).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, MutableMapping, Optional

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
LEGACY_PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Humble's Fast DDS 2.6 also reads this one
PROFILE_NAME = "shm_large_images.xml"
PROFILE_SUBDIR = ("config", "fastdds")
SHM_SEGMENT_BYTES = 32 * 1024 * 1024  # the profile's segment_size

_CHECKOUT = Path(__file__).resolve().parents[2]


def checkout_profile() -> Path:
    """The profile in this source tree (config/fastdds/shm_large_images.xml next to the package)."""
    return _CHECKOUT.joinpath(*PROFILE_SUBDIR, PROFILE_NAME)


def installed_profile() -> Optional[Path]:
    """The installed profile (share/rman_ros/config/fastdds/...), or None when rman_ros is not installed
    with ament (or ament_index_python is missing)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        path = Path(get_package_share_directory("rman_ros")).joinpath(*PROFILE_SUBDIR, PROFILE_NAME)
    except PackageNotFoundError:
        return None
    return path if path.is_file() else None


def default_profile() -> Path:
    """The profile the demo, the benchmarks and the tests use: this checkout's, else the installed one."""
    path = checkout_profile()
    if path.is_file():
        return path
    installed = installed_profile()
    if installed is None:
        raise FileNotFoundError(f"{PROFILE_NAME}: not in this checkout ({path}) nor installed")
    return installed


def profile_environment(profile: str, environ: Mapping[str, str] = os.environ) -> dict:
    """{variable: value} that make a process load `profile`: FASTDDS_DEFAULT_PROFILES_FILE, and on Humble
    (Fast DDS 2.6) also FASTRTPS_DEFAULT_PROFILES_FILE. '' = {} (Fast DDS's defaults or whatever the
    caller's environment says). ValueError when the file does not exist (a missing file is silently
    ignored by Fast DDS, so it would fall back to the small default segment without a word)."""
    profile = str(profile).strip()
    if not profile:
        return {}
    if not os.path.isfile(profile):
        raise ValueError(f"transport profile {profile!r}: no such file")
    profile = os.path.abspath(profile)
    env = {PROFILE_ENV: profile}
    if environ.get("ROS_DISTRO") == "humble":
        env[LEGACY_PROFILE_ENV] = profile
    return env


def apply_profile(profile: Optional[str] = None, environ: MutableMapping[str, str] = os.environ) -> dict:
    """Give `environ` (default: this process, which must not have created a DDS participant yet) a transport
    profile, as the demo and the benchmarks do for themselves and the processes they start:

    * None: keep a FASTDDS_DEFAULT_PROFILES_FILE that the caller set, else use `default_profile()`;
    * a path: that profile (ValueError when there is no such file);
    * '': no profile at all (the variables are removed: Fast DDS's built-in defaults).

    Returns {variable: value} of what is in effect ({} for none)."""
    if profile is None:
        if environ.get(PROFILE_ENV, "").strip():
            return {PROFILE_ENV: environ[PROFILE_ENV]}
        profile = str(default_profile())
    env = profile_environment(profile, environ)
    if not env:
        for name in (PROFILE_ENV, LEGACY_PROFILE_ENV):
            environ.pop(name, None)
    environ.update(env)
    return env
