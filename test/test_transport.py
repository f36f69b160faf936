"""The Fast DDS transport profile (config/fastdds/shm_large_images.xml): its content, how the launch files,
the launcher, the demo and the benchmarks pass it on, that Fast DDS loads it without an error, and two real
processes exchanging 1280x720 best-effort images with it (rman_ros.transport.bench)."""
import ast
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rman_ros import transport
from rman_ros.bag import launcher
from rman_ros.ros.launch_args import launch_arguments, node_setup, transport_arguments, transport_environment
from rman_ros.transport.bench import parse_size, shm_segments_mib

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds" / "shm_large_images.xml"
NS = {"dds": "http://www.eprosima.com"}
ENV = transport.PROFILE_ENV


def _env(**extra):
    """This process's environment for a child: loopback discovery, this checkout importable, no profile
    unless `extra` gives one."""
    env = launcher.node_env(transport_profile="")
    env.update(extra)
    return env


# ---------------------------------------------------------------- the file


def test_profile_is_valid_xml_with_the_expected_transports():
    root = ET.parse(PROFILE).getroot()
    assert root.tag == "{http://www.eprosima.com}dds"
    descriptors = {d.findtext("dds:transport_id", namespaces=NS): d
                   for d in root.findall("dds:profiles/dds:transport_descriptors/dds:transport_descriptor", NS)}
    kinds = {tid: d.findtext("dds:type", namespaces=NS) for tid, d in descriptors.items()}
    assert sorted(kinds.values()) == ["SHM", "UDPv4"]
    shm = next(d for d in descriptors.values() if d.findtext("dds:type", namespaces=NS) == "SHM")
    segment = int(shm.findtext("dds:segment_size", namespaces=NS))
    assert segment == transport.SHM_SEGMENT_BYTES == 32 * 2**20
    assert segment >= 10 * 1280 * 720 * 3  # several 1280x720 rgb8 frames in flight
    assert int(shm.findtext("dds:port_queue_capacity", namespaces=NS)) >= 512
    udp = next(d for d in descriptors.values() if d.findtext("dds:type", namespaces=NS) == "UDPv4")
    assert [a.text for a in udp.findall("dds:interfaceWhiteList/dds:address", NS)] == ["127.0.0.1"]
    participants = root.findall("dds:profiles/dds:participant", NS)
    assert len(participants) == 1 and participants[0].get("is_default_profile") == "true"
    rtps = participants[0].find("dds:rtps", NS)
    assert rtps.findtext("dds:useBuiltinTransports", namespaces=NS) == "false"
    # the SHM transport first: Fast DDS sends shared-memory data through the first SHM transport registered
    # (rmw_fastrtps appends its own default ones under ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST)
    used = [t.text for t in rtps.findall("dds:userTransports/dds:transport_id", NS)]
    assert used == [tid for tid, kind in sorted(kinds.items(), key=lambda kv: kv[1] != "SHM")]


def test_the_profile_is_installed_and_found():
    assert transport.default_profile() == transport.checkout_profile() == PROFILE
    setup_py = (ROOT / "setup.py").read_text()
    assert '"/config/fastdds", glob("config/fastdds/*.xml")' in setup_py
    default, text = transport_arguments("/opt/share/rman_ros")["transport_profile"]
    assert default == "/opt/share/rman_ros/config/fastdds/shm_large_images.xml" and "''" in text
    assert "transport_profile" not in launch_arguments("x")  # the launch files add it (transport_arguments)


def test_a_missing_profile_is_an_error_not_a_silent_fallback(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        transport.profile_environment(str(tmp_path / "nope.xml"))
    with pytest.raises(ValueError, match="transport_profile"):
        transport_environment(str(tmp_path / "nope.xml"), {})


# ---------------------------------------------------------------- passing it on


def _args(**kw):
    values = {name: default for name, (default, _) in launch_arguments(str(ROOT / "config" / "tracker.yaml")).items()}
    values.update({name: default for name, (default, _) in transport_arguments(str(ROOT)).items()})  # = PROFILE
    values.update(kw)
    return values


def test_the_launch_argument_sets_and_unsets_the_variable():
    env = node_setup(_args(), environ={}).env
    assert env == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", ENV: str(PROFILE)}
    assert ENV not in node_setup(_args(transport_profile=""), environ={}).env  # '' = set nothing
    assert ENV not in node_setup(_args(transport_profile="  "), environ={ENV: "/mine.xml"}).env
    humble = node_setup(_args(), environ={"ROS_DISTRO": "humble"}).env
    assert humble[ENV] == humble[transport.LEGACY_PROFILE_ENV] == str(PROFILE)
    with pytest.raises(ValueError, match="transport_profile"):
        node_setup(_args(transport_profile="/nonexistent/profile.xml"), environ={})
    relative = os.path.relpath(PROFILE)
    assert transport_environment(relative, {}) == {ENV: str(PROFILE)}  # made absolute for the node


def test_the_loopback_profile_is_not_applied_when_discovery_reaches_other_machines(tmp_path):
    """shm_large_images.xml keeps UDP on 127.0.0.1: with SUBNET or SYSTEM_DEFAULT discovery it would cut the
    node off from the other machines, so the launch logic leaves it out there (a profile of your own stays)."""
    for reach in ("subnet", "SYSTEM_DEFAULT"):
        assert node_setup(_args(discovery_range=reach), environ={}).env == {
            "ROS_AUTOMATIC_DISCOVERY_RANGE": reach.upper()}
    assert ENV not in node_setup(_args(), environ={"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}).env
    assert node_setup(_args(discovery_range="off"), environ={}).env[ENV] == str(PROFILE)
    mine = tmp_path / "network.xml"
    mine.write_text("<dds/>")
    assert transport_environment(str(mine), {}, "SUBNET") == {ENV: str(mine)}


def test_both_launch_files_declare_and_apply_the_argument():
    for name, applies in (("tracker.launch.py", "node_setup"), ("follow.launch.py", "transport_environment")):
        tree = ast.parse((ROOT / "launch" / name).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module == "rman_ros.ros.launch_args" for alias in node.names}
        calls = {getattr(n.func, "id", "") for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert {"transport_arguments", applies} <= imported & calls, name
        assert "transport_profile" in ast.get_docstring(tree), name


def test_apply_profile_for_the_demo_and_the_benchmarks(tmp_path):
    env = {}
    assert transport.apply_profile(None, env) == {ENV: str(PROFILE)} and env[ENV] == str(PROFILE)
    mine = tmp_path / "mine.xml"
    mine.write_text(PROFILE.read_text())
    env = {ENV: str(mine)}
    assert transport.apply_profile(None, env) == {ENV: str(mine)}  # the caller's choice stands
    assert transport.apply_profile("", env) == {} and ENV not in env  # none: Fast DDS's defaults
    env = {transport.LEGACY_PROFILE_ENV: "x", "ROS_DISTRO": "humble"}
    assert transport.apply_profile(str(mine), env) == {ENV: str(mine), transport.LEGACY_PROFILE_ENV: str(mine)}


def test_node_subprocesses_get_the_profile(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert launcher.node_env()[ENV] == str(PROFILE)
    assert ENV not in launcher.node_env(transport_profile="")
    monkeypatch.setenv(ENV, str(PROFILE.parent / "other.xml"))
    assert launcher.node_env()[ENV] == str(PROFILE.parent / "other.xml")


def test_parse_size():
    assert parse_size("1280x720") == (1280, 720) and parse_size("640X360") == (640, 360)
    for bad in ("640", "0x10", "axb"):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)


# ---------------------------------------------------------------- Fast DDS with the profile

PROBE = ("import os, rclpy, time\n"
         "from rman_ros.transport.bench import shm_segments_mib\n"
         "rclpy.init(); node = rclpy.create_node('rman_transport_probe'); time.sleep(0.3)\n"
         "print(shm_segments_mib(os.getpid()), flush=True); rclpy.shutdown()\n")


def _probe(profile: Path):
    res = subprocess.run([sys.executable, "-c", PROBE], env=_env(**{ENV: str(profile)}), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stderr, json.loads(res.stdout.strip().splitlines()[-1])


def test_fast_dds_loads_the_profile_without_an_error(tmp_path):
    stderr, segments = _probe(PROFILE)
    assert "XMLPARSER" not in stderr and "Error" not in stderr, stderr
    assert max(segments) >= 32, segments  # its own 32 MiB segment (+ a little bookkeeping)
    # the same check catches a broken profile: Fast DDS reports it and falls back to its 512 KiB segment
    broken = tmp_path / "broken.xml"
    broken.write_text(PROFILE.read_text().replace("segment_size>", "segment_bytes>"))
    stderr, segments = _probe(broken)
    assert "XMLPARSER" in stderr and max(segments) < 1, (stderr, segments)


def test_two_processes_exchange_1280x720_best_effort_images_with_the_profile(tmp_path):
    """Real publisher (this bench's parent process) and subscriber (its child), both with the profile:
    1280x720 rgb8 (2.76 MB, over 5 times Fast DDS's default 512 KiB segment), best effort, 10 Hz. Not a
    speed test: at this rate nearly every frame arrives with the profile, and nearly none without it."""
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, "-m", "rman_ros.transport", "bench", "--size", "1280x720", "--fps", "10",
                          "--frames", "30", "--qos", "best_effort", "--profile", str(PROFILE), "--out", str(out)],
                         env=_env(), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(out.read_text())
    assert "XMLPARSER" not in res.stderr and not result["subscriber_warnings"], (res.stderr, result)
    assert result["profile"] == result["subscriber_profile"] == str(PROFILE)
    assert result["frames_sent"] == 30 and result["bytes_per_frame"] == 1280 * 720 * 3
    assert result["frames_received"] >= 24, result  # a lost frame or two under load is tolerated
    for side in ("publisher", "subscriber"):  # both mapped a 32 MiB segment: the profile is in effect
        assert max(result["shm_segments_mib"][side]) >= 32, result["shm_segments_mib"]
    assert result["latency_ms_p50"] is not None and result["machine"]


def test_shm_segments_of_no_process_is_empty():
    assert shm_segments_mib(2**22 + 12345) == []  # no such process (pid_max is at most 2**22)
