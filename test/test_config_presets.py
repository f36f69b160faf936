"""Presets are files, and one loader reads them for every entry point: the node, the benchmark and track."""

from pathlib import Path

import pytest

from rman_ros.core import RMANConfig
from rman_ros.core.config_files import load_config, load_overrides, preset_names, preset_path

REPO = Path(__file__).resolve().parents[1]
FAST = REPO / "config" / "presets" / "fast.yaml"


def fast_values():
    return {"update_interval": 20, "update_iters": 8, "lstm_hidden": 256, "fc_hidden": 256}


def test_the_fast_preset_is_a_file_read_by_name_or_path():
    assert "fast" in preset_names() and preset_path("fast") == FAST
    assert load_overrides("fast") == load_overrides(FAST) == load_overrides("preset:fast")
    assert load_overrides("fast") == fast_values()
    default = RMANConfig()
    assert all(getattr(default, k) != v for k, v in fast_values().items())


def test_one_loader_reads_the_flat_and_the_ros_params_formats(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("update_interval: 20\nupdate_iters: 8\n")
    ros = tmp_path / "ros.yaml"
    ros.write_text("/**:\n  ros__parameters:\n    label: person\n    device: cpu\n"
                   "    tracker:\n      update_interval: 20\n      update_iters: 8\n"
                   "rman_tracker:\n  ros__parameters:\n    tracker:\n      update_iters: 9\n")
    assert load_overrides(flat) == {"update_interval": 20, "update_iters": 8}
    assert load_overrides(ros) == {"update_interval": 20, "update_iters": 9, "device": "cpu"}
    assert load_config(flat).update_interval == 20 and load_config(None) == RMANConfig()


@pytest.mark.parametrize("text,error", [("update_intervall: 3\n", "unknown config keys: update_intervall"),
                                        ("- 1\n- 2\n", "expected a mapping"),
                                        ("a: [\n", "not valid YAML"),
                                        ("update_interval: 0\n", "update_interval=0 outside range")])
def test_bad_config_files_are_clear_errors_that_name_the_file(tmp_path, text, error):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=error) as info:
        load_config(f)
    assert "bad.yaml" in str(info.value)


def test_unknown_presets_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown preset 'fastest'.*fast"):
        load_overrides("fastest")
    with pytest.raises(FileNotFoundError):
        load_overrides("missing/file.yaml")


def test_the_benchmark_and_track_build_the_same_tracker_config_from_the_preset():
    from rman_ros.bench.trackers import make_tracker, parse_tracker
    from rman_ros.track import build_parser, tracker_spec

    want = RMANConfig().replace(**fast_values())
    specs = {"bench rman:fast": parse_tracker("rman:fast"),
             "bench --config fast.yaml": parse_tracker("rman", load_overrides(FAST)),
             "track --config fast": tracker_spec(build_parser().parse_args(["seq", "--config", "fast"])),
             "track --tracker rman:fast": tracker_spec(build_parser().parse_args(["seq", "--tracker",
                                                                                 "rman:fast"]))}
    for name, spec in specs.items():
        assert spec.overrides_dict == fast_values(), name
    tracker = make_tracker(specs["track --config fast"])
    try:
        assert tracker._tracker.cfg == want
    finally:
        tracker.close()


def test_the_node_gets_the_preset_by_parameter_or_as_its_params_file():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    from rman_ros.ros.tracker_node import TrackerNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        by_param = TrackerNode(context=ctx, parameter_overrides=[Parameter("preset", value="fast")])
        by_file = TrackerNode(node_name="rman_tracker_b", context=ctx,
                              cli_args=["--ros-args", "--params-file", str(FAST)])
        explicit = TrackerNode(node_name="rman_tracker_c", context=ctx,
                               parameter_overrides=[Parameter("preset", value="fast"),
                                                    Parameter("tracker.update_iters", value=5)])
        for node in (by_param, by_file):
            node._read_parameters()
            assert {k: getattr(node._config, k) for k in fast_values()} == fast_values()
            assert node.get_parameter("tracker.update_interval").value == 20
        explicit._read_parameters()  # an explicit parameter wins over the preset
        assert explicit._config.update_iters == 5 and explicit._config.update_interval == 20
        with pytest.raises(ValueError, match="unknown preset 'nope'"):
            TrackerNode(node_name="rman_tracker_d", context=ctx, parameter_overrides=[Parameter("preset", value="nope")])
        for node in (by_param, by_file, explicit):
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.mark.parametrize("field,value", [("n_candidates", 0), ("n_candidates", 12.5), ("tau2", 0.9),
                                         ("update_mode", "later"), ("use_bbreg", 1), ("device", "gpu")])
def test_the_config_and_the_node_parameters_share_one_value_check(field, value):
    """A value the config refuses, the node's parameter check refuses with the same reason (tau2 > tau1 is a
    relation between two fields: only the config can see it)."""
    pytest.importorskip("rcl_interfaces")
    from rman_ros.ros.params import all_param_specs, check_value

    with pytest.raises(ValueError) as info:
        RMANConfig().replace(**{field: value})
    spec = {s.config_field: s for s in all_param_specs(RMANConfig) if s.config_field}[field]
    node_reason = check_value(spec, value)
    if field == "tau2":
        assert node_reason is None and "tau2 must be <= tau1" in str(info.value)
    elif field == "device":
        assert "expected auto, cpu, cuda or cuda:N" in str(info.value)
    else:
        assert node_reason and node_reason.replace("tracker.", "", 1) in str(info.value)
