"""Tracker configurations from files: the one loader behind every entry point.

A configuration source is a YAML file or the name of a preset (a file ``config/presets/<name>.yaml``). The
file may be in either of two formats:

* flat: a mapping of :class:`RMANConfig` field names to values (``update_interval: 20``);
* ROS parameters: ``<node or /**>: {ros__parameters: {tracker: {...}, device: ...}}``, as the node's params
  file ``config/tracker.yaml``. The ``tracker.*`` parameters and ``device`` are read; the node's own
  parameters are returned separately by :func:`read_params_file`.

Unknown field names are errors that name the file. Values are validated by :meth:`RMANConfig.validate`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from .config import RMANConfig

PRESETS_DIR_ENV = "RMAN_PRESETS_DIR"
TRACKER_PREFIX = "tracker."
PROMOTED_FIELDS = {"device": "device"}  # config fields that the node exposes as top-level parameters


def presets_dirs() -> List[Path]:
    """Where presets are looked up, in order: $RMAN_PRESETS_DIR, the source tree's config/presets (also what
    a symlinked colcon install points at), and the installed package's share/rman_ros/config/presets."""
    dirs = []
    if os.environ.get(PRESETS_DIR_ENV):
        dirs.append(Path(os.environ[PRESETS_DIR_ENV]))
    here = Path(__file__).resolve()
    dirs.append(here.parents[2] / "config" / "presets")
    for parent in here.parents:  # <prefix>/lib/python3.X/site-packages/rman_ros/core -> <prefix>/share
        share = parent / "share" / "rman_ros" / "config" / "presets"
        if share.is_dir():
            dirs.append(share)
            break
    return dirs


def preset_names() -> List[str]:
    names = set()
    for d in presets_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def preset_path(name: str) -> Path:
    """The file of preset `name`; ValueError listing the known presets when there is none."""
    for d in presets_dirs():
        p = d / f"{name}.yaml"
        if p.is_file():
            return p
    known = ", ".join(preset_names()) or "none found"
    raise ValueError(f"unknown preset {name!r} (known: {known}; looked in "
                     f"{', '.join(str(d) for d in presets_dirs())})")


def _flatten(prefix: str, d: Dict[str, Any], out: Dict[str, Any]) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            _flatten(f"{prefix}{k}.", v, out)
        else:
            out[f"{prefix}{k}"] = v


def read_params_file(doc: Dict[str, Any], node_name: str = "rman_tracker") -> Dict[str, Any]:
    """Flat {parameter: value} of a parsed ROS params document: the ``/**`` section, then ``node_name`` and
    ``/node_name`` (later sections override earlier ones); nested mappings are joined with dots."""
    flat: Dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}"):
        section = doc.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            _flatten("", section["ros__parameters"], flat)
    return flat


def is_params_document(doc: Dict[str, Any]) -> bool:
    return any(isinstance(v, dict) and "ros__parameters" in v for v in doc.values())


def config_fields_of_params(flat: Dict[str, Any]) -> Dict[str, Any]:
    """The RMANConfig fields in flat node parameters (``tracker.<field>`` and the promoted ``device``)."""
    promoted = {param: field for field, param in PROMOTED_FIELDS.items()}
    out = {}
    for name, value in flat.items():
        if name.startswith(TRACKER_PREFIX):
            out[name[len(TRACKER_PREFIX):]] = value
        elif name in promoted:
            out[promoted[name]] = value
    return out


def read_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc


def resolve_source(source: Union[str, Path]) -> Path:
    """A file path as given, or the file of a preset name (``fast`` or ``preset:fast``)."""
    text = str(source)
    if text.startswith("preset:"):
        return preset_path(text[len("preset:"):])
    path = Path(text)
    if path.is_file() or path.suffix in (".yaml", ".yml") or "/" in text:
        return path
    return preset_path(text)


def load_overrides(source: Optional[Union[str, Path]], node_name: str = "rman_tracker") -> Dict[str, Any]:
    """RMANConfig overrides from a file (flat or ROS params format) or a preset name; {} for None. Unknown
    field names raise ValueError naming the file."""
    if source is None or str(source) == "":
        return {}
    path = resolve_source(source)
    doc = read_yaml(path)
    overrides = config_fields_of_params(read_params_file(doc, node_name)) if is_params_document(doc) else doc
    known = set(RMANConfig.field_info())
    unknown = sorted(k for k in overrides if k not in known)
    if unknown:
        raise ValueError(f"{path}: unknown config keys: {', '.join(unknown)}")
    return dict(overrides)


def load_config(source: Optional[Union[str, Path]] = None, base: Optional[RMANConfig] = None,
                **overrides) -> RMANConfig:
    """`base` (default RMANConfig()) with a file's or preset's overrides, then keyword overrides; validated."""
    cfg = base if base is not None else RMANConfig()
    values = {**load_overrides(source), **overrides}
    try:
        return cfg.replace(**values) if values else cfg
    except ValueError as exc:
        where = f"{source}: " if source else ""
        raise ValueError(f"{where}{exc}") from exc
