"""ROS parameter declarations generated from RMANConfig metadata, plus the node's own parameters.

Tracker hyperparameters live under the `tracker.` prefix (`tracker.n_candidates`, ...); the
config field `device` is exposed as the top-level `device` parameter. Fields with
metadata runtime=False are read-only (settable only at startup, e.g. from the params file).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

# tracker hyperparameters are `tracker.<field>`; PROMOTED_FIELDS are top-level node parameters instead
from rman_ros.core.config_files import PROMOTED_FIELDS, TRACKER_PREFIX

# config fields the node forces (the node always runs the core's asynchronous update mode unless
# the params file says otherwise); not hidden, just documented here
NODE_DEFAULT_OVERRIDES = {"update_mode": "async"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    range: Optional[tuple] = None
    choices: Optional[list] = None
    read_only: bool = False
    config_field: Optional[str] = None  # RMANConfig field this parameter feeds


NODE_PARAMS = [
    ParamSpec("preset", "", "name of a tracker preset (config/presets/<name>.yaml, e.g. fast) whose values "
              "replace the built-in defaults; parameters set explicitly still win. '' = none", read_only=True),
    ParamSpec("autostart", True, "configure and activate the lifecycle node on start", read_only=True),
    ParamSpec("label", "target", "class_id written into results[0].hypothesis.class_id"),
    ParamSpec("score_threshold", 0.0, "a result with score below this is published as lost (empty)",
              range=(0.0, 1.0)),
    ParamSpec("reliability", "best_effort", "QoS reliability of the image subscription "
              "(best_effort also receives from reliable publishers)",
              choices=["best_effort", "reliable"], read_only=True),
    ParamSpec("image_depth", 1, "QoS history depth of the image subscription", range=(1, 100),
              read_only=True),
    ParamSpec("use_compressed", False, "the `image` topic carries sensor_msgs/CompressedImage (jpeg/png) "
              "instead of sensor_msgs/Image; remap `image` to e.g. /camera/image_raw/compressed",
              read_only=True),
    ParamSpec("init_stamp_tolerance", 0.02, "seconds: an init stamp matches a buffered frame within this",
              range=(0.0, 10.0)),
    ParamSpec("init_nearest_tolerance", 0.5, "seconds: an init whose own frame is not buffered (lost in transport) "
              "starts on the nearest buffered frame within this, with a warning; else on the next frame",
              range=(0.0, 60.0)),
    ParamSpec("max_image_pixels", 4096 * 4096, "larger images (width x height) are dropped with a warning",
              range=(1, 1 << 40)),
    ParamSpec("buffer_size", 30, "number of recent frames kept for init stamp matching", range=(1, 1000),
              read_only=True),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages", range=(0.05, 10.0),
              read_only=True),
    ParamSpec("init_class", "", "class_id of the detector's boxes (detector_detections) to start a track on while "
              "idle: the best-scoring detection of that class; '' = off"),
    ParamSpec("reinit_from_detector", False, "restart a track lost for longer than reinit_lost_s on the detector's "
              "best detection of init_class ('' = of the class the track started on)"),
    ParamSpec("reinit_lost_s", 2.0, "seconds (frame stamps) a track must have been lost before "
              "reinit_from_detector restarts it", range=(0.0, 3600.0)),
    ParamSpec("click_box_px", 64, "side in pixels of the box an init_point starts when no detector box contains "
              "the point", range=(4, 4096)),
    ParamSpec("debug_image_box_thickness", 2, "line thickness of the box on debug_image", range=(1, 20)),
    ParamSpec("warn_throttle", 2.0, "seconds between repeated warnings of one kind", range=(0.0, 60.0)),
]


def config_param_specs(config_cls) -> list:
    """One ParamSpec per RMANConfig field, from its metadata."""
    specs = []
    for f in dataclasses.fields(config_cls):
        md = f.metadata
        name = PROMOTED_FIELDS.get(f.name, TRACKER_PREFIX + f.name)
        default = NODE_DEFAULT_OVERRIDES.get(f.name, f.default)
        src = md.get("source")
        desc = md.get("help", f.name) + (f" [source: {src}]" if src else "")
        specs.append(ParamSpec(name, default, desc, md.get("range"), md.get("choices"),
                               read_only=not md.get("runtime", False), config_field=f.name))
    return specs


def all_param_specs(config_cls) -> list:
    return list(NODE_PARAMS) + config_param_specs(config_cls)


def _ptype(value) -> int:
    if isinstance(value, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(value, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(value, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(value, str):
        return ParameterType.PARAMETER_STRING
    raise TypeError(f"unsupported parameter default {value!r}")


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """ParameterDescriptor with description, type, range (numeric), choices (in the text)."""
    d = ParameterDescriptor()
    d.name = spec.name
    d.type = _ptype(spec.default)
    text = spec.description
    if spec.choices is not None:
        text += f" (choices: {', '.join(str(c) for c in spec.choices)})"
    if spec.range is not None:
        text += f" (range: [{spec.range[0]}, {spec.range[1]}])"
    d.description = text
    d.additional_constraints = (f"one of {spec.choices}" if spec.choices is not None else
                                f"in [{spec.range[0]}, {spec.range[1]}]" if spec.range is not None else "")
    d.read_only = spec.read_only
    if spec.range is not None and d.type == ParameterType.PARAMETER_INTEGER:
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=0)]
    elif spec.range is not None and d.type == ParameterType.PARAMETER_DOUBLE:
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                     to_value=float(spec.range[1]), step=0.0)]
    return d


def check_value(spec: ParamSpec, value) -> Optional[str]:
    """None if `value` is acceptable for `spec`, else the reason (type, range, choices), by the same check
    as RMANConfig's fields."""
    from rman_ros.core.config import check_field

    return check_field(spec.name, value, spec.default, spec.range, spec.choices)


def declare_parameters(node, specs: dict) -> dict:
    """Declare every parameter of `specs` ({name: ParamSpec}) on `node`, `preset` first: its defaults replace
    the built-in ones (ValueError for an unknown preset: the rest cannot be declared). A start-up value
    (params file, -p) of the wrong type or out of range does not raise: the parameter keeps its default, and
    the returned {name: reason} names it for configure to refuse. An int for a float parameter is taken as
    that float."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    errors = {}

    def declare(spec, default):
        try:
            node.declare_parameter(spec.name, default, descriptor(spec))
            return
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            override = getattr(node, "_parameter_overrides", {}).get(spec.name)
            value = override.value if override is not None else None
            reason = check_value(spec, value) if override is not None else None
            if reason is None and isinstance(spec.default, float) and isinstance(value, int):
                default = float(value)
            else:
                errors[spec.name] = reason or str(exc)
        node.declare_parameter(spec.name, default, descriptor(spec), ignore_override=True)

    declare(specs["preset"], "")
    preset = node.get_parameter("preset").value
    defaults = preset_defaults(preset)
    for spec in specs.values():
        if spec.name != "preset":
            declare(spec, defaults.get(spec.name, spec.default))
    if preset:
        node.get_logger().info(f"preset {preset!r}: defaults {defaults}")
    return errors


def parameter_names(config_error: str, config_cls) -> str:
    """A config error ("config tau2 must be <= tau1") in the node's parameter names
    ("tracker.tau2 must be <= tracker.tau1")."""
    import re

    names = {f.name: PROMOTED_FIELDS.get(f.name, TRACKER_PREFIX + f.name) for f in dataclasses.fields(config_cls)}
    text = re.sub(r"^config ", "", config_error)
    return re.sub(r"(?<![\w.])[a-z_][a-z0-9_]*\b", lambda m: names.get(m.group(0), m.group(0)), text)


def torch_threads(num_threads: int, device: str, update_mode: str, available: int) -> int:
    """Intra-op threads the node gives its tracker (each of the frame and training threads gets this many):
    num_threads when set; otherwise, on CPU with updates on a background thread (async, deferred), half of
    the `available` threads (at least 1), so that the frame thread and the training thread do not
    oversubscribe the cores; otherwise all of them. When both threads take all the cores, each matrix
    product of the frame thread waits for an OpenMP thread that the training thread has pushed off its
    core, and the node processes fewer frames."""
    if num_threads > 0:
        return num_threads
    available = max(1, int(available))
    if device == "cpu" and update_mode in ("async", "deferred"):
        return max(1, available // 2)
    return available


def params_from_file(path, node_name: str = "rman_tracker") -> dict:
    """Flat {name: value} of a ROS params YAML (`/**`, `<node_name>` or `/<node_name>` sections,
    nested mappings joined with dots), later sections overriding earlier ones."""
    from rman_ros.core.config_files import read_params_file, read_yaml

    return read_params_file(read_yaml(path), node_name)


def preset_defaults(preset: str) -> dict:
    """{parameter name: value} of a preset's tracker fields ({} for ''); ValueError for an unknown preset."""
    if not preset:
        return {}
    from rman_ros.core.config_files import load_overrides

    return {PROMOTED_FIELDS.get(f, TRACKER_PREFIX + f): v for f, v in load_overrides(f"preset:{preset}").items()}


def config_from_params(flat: dict, config_cls):
    """RMANConfig from flat node parameters (tracker.* and device), as the node builds it
    (node defaults such as update_mode=async apply where the params leave a field out)."""
    kw = {}
    for spec in config_param_specs(config_cls):
        kw[spec.config_field] = flat.get(spec.name, spec.default)
    for name, value in list(kw.items()):
        default = next(s.default for s in config_param_specs(config_cls) if s.config_field == name)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            kw[name] = float(value)
    return config_cls.from_dict(kw)


def _yaml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v) if isinstance(v, float) else str(v)


def render_params_yaml(config_cls) -> str:
    """The package's config/tracker.yaml: every declared parameter with its default and help."""
    lines = ["# rman_tracker parameters (rman_ros tracker_node). Works under any namespace/node name.",
             "# Generated by `python -m rman_ros.ros.params config/tracker.yaml` from rman_ros.ros.params",
             "# (node) and rman_ros.core.config.RMANConfig (tracker.*); edit values freely, regenerate",
             "# when the config gains fields. [ro] = read-only after start (structural),",
             "# [rt] = changeable at runtime (validated, applied between frames).",
             "/**:", "  ros__parameters:"]
    specs = all_param_specs(config_cls)
    for s in specs:
        if not s.name.startswith(TRACKER_PREFIX):
            lines.append(f"    # {'[ro]' if s.read_only else '[rt]'} {s.description}")
            lines.append(f"    {s.name}: {_yaml_value(s.default)}")
    lines.append("    tracker:")
    for s in specs:
        if s.name.startswith(TRACKER_PREFIX):
            lines.append(f"      # {'[ro]' if s.read_only else '[rt]'} {s.description}")
            lines.append(f"      {s.name[len(TRACKER_PREFIX):]}: {_yaml_value(s.default)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    from rman_ros.core.config import RMANConfig

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m rman_ros.ros.params OUT_YAML")
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        fh.write(render_params_yaml(RMANConfig))
    print(f"wrote {sys.argv[1]}")
