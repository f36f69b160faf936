"""Tracker adapters: name -> factory returning ``initialize(image, box)`` / ``track(image) -> box``.

Names understood by :func:`make_tracker` / :func:`parse_tracker`:

* ``rman`` - :class:`rman_ros.core.RMANTracker` with default config (+ ``--config`` overrides);
  ``rman:<Variant>`` - one entry of ``rman_ros.core.variants.ABLATIONS`` or a preset file
  (``config/presets/<name>.yaml``, see :mod:`rman_ros.core.config_files`).
* OpenCV peers: ``csrt``, ``kcf``, ``mil`` (main module) and ``mosse``, ``medianflow``,
  ``tld``, ``boosting`` (``cv2.legacy``); ``nanotrack`` (``cv2.TrackerNano``, a Siamese tracker whose two
  ONNX files are data: see :func:`find_nanotrack_models`).
* ``published:<Name>`` - stored per-frame results (no tracking; see :class:`PublishedResults`).

Images passed to adapters are HxWx3 uint8 RGB; boxes are (x, y, w, h) floats used
exactly like the gt numbers.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

OPENCV_MAIN = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create", "mil": "TrackerMIL_create"}
OPENCV_LEGACY = {"mosse": "TrackerMOSSE_create", "medianflow": "TrackerMedianFlow_create",
                 "tld": "TrackerTLD_create", "boosting": "TrackerBoosting_create"}
OPENCV_TRACKERS = tuple(OPENCV_MAIN) + tuple(OPENCV_LEGACY)
NANOTRACK_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")
PEER_MODELS_ENV = "RMAN_PEER_MODELS"


@dataclass(frozen=True)
class TrackerSpec:
    """Parsed tracker name. ``label`` names the result folder."""

    kind: str  # rman | opencv | nanotrack | published
    name: str  # opencv name, published name, or rman variant ('' = default)
    label: str
    overrides: Tuple[Tuple[str, object], ...] = field(default_factory=tuple)
    model_dir: Optional[str] = None  # nanotrack: the folder holding its two ONNX files

    @property
    def overrides_dict(self) -> Dict[str, object]:
        return dict(self.overrides)


def _safe_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "tracker"


def rman_variants() -> Dict[str, Dict[str, object]]:
    """The ablation set from the core package (ImportError if it is not there yet)."""
    from rman_ros.core.variants import ABLATIONS  # noqa: WPS433 (optional dependency)

    return {str(k): dict(v) for k, v in ABLATIONS.items()}


def parse_tracker(name: str, overrides: Optional[Dict[str, object]] = None,
                  label_suffix: str = "") -> TrackerSpec:
    """Parse a tracker name from the command line."""
    raw = name.strip()
    low = raw.lower()
    ov = dict(overrides or {})
    if low.startswith("published:"):
        pub = raw.split(":", 1)[1]
        if not pub:
            raise ValueError("published: needs a name, e.g. published:MDNet")
        return TrackerSpec("published", pub, _safe_label(Path(pub).name))
    if low == "rman" or low.startswith("rman:"):
        variant = raw.split(":", 1)[1] if ":" in raw else ""
        if variant:
            from rman_ros.core.config_files import load_overrides, preset_names

            ablations = rman_variants()
            if variant in ablations:
                merged = dict(ablations[variant])
            elif variant in preset_names():
                merged = load_overrides(f"preset:{variant}")
            else:
                raise ValueError(f"unknown RMAN variant or preset {variant!r}; known: "
                                 f"{', '.join(list(ablations) + preset_names())}")
            merged.update(ov)
            ov = merged
        suffix = ("-full" if variant == "rman" else f"-{_safe_label(variant)}") if variant else ""
        label = "rman" + suffix + label_suffix
        return TrackerSpec("rman", variant, label, tuple(sorted(ov.items())))
    if low in OPENCV_TRACKERS:
        return TrackerSpec("opencv", low, low)
    if low == "nanotrack":
        return TrackerSpec("nanotrack", low, low)
    raise ValueError(f"unknown tracker {name!r}; known: rman, rman:<variant>, "
                     f"{', '.join(OPENCV_TRACKERS)}, nanotrack, published:<Name>")



# --------------------------------------------------------------------------- OpenCV
class OpenCVTracker:
    """Adapter for OpenCV contrib trackers (RGB in, float boxes out)."""

    def __init__(self, name: str, factory=None):
        """`name`: one of OPENCV_TRACKERS; or any name with `factory`, a callable returning a new OpenCV
        tracker of the main module's API (init / update)."""
        import cv2

        self.name = name
        self._cv2 = cv2
        if factory is not None:
            self._factory = factory
            self._legacy = False
        elif name in OPENCV_MAIN:
            self._factory = getattr(cv2, OPENCV_MAIN[name])
            self._legacy = False
        elif name in OPENCV_LEGACY:
            legacy = getattr(cv2, "legacy", None)
            if legacy is None or not hasattr(legacy, OPENCV_LEGACY[name]):
                raise RuntimeError(f"OpenCV {cv2.__version__} has no cv2.legacy.{OPENCV_LEGACY[name]}")
            self._factory = getattr(legacy, OPENCV_LEGACY[name])
            self._legacy = True
        else:
            raise ValueError(f"not an OpenCV tracker: {name}")
        self._tracker = None
        self._box = None

    def _bgr(self, image: np.ndarray) -> np.ndarray:
        return self._cv2.cvtColor(np.ascontiguousarray(image), self._cv2.COLOR_RGB2BGR)

    def initialize(self, image: np.ndarray, box) -> None:
        x, y, w, h = (float(v) for v in box)
        self._box = (x, y, w, h)
        self._tracker = self._factory()
        bgr = self._bgr(image)
        if self._legacy:
            self._tracker.init(bgr, (x, y, w, h))
        else:
            self._tracker.init(bgr, tuple(int(round(v)) for v in (x, y, w, h)))
        if self.name == "kcf":
            # OpenCV 5 KCF keeps the offset of its first update; one update on the
            # init frame absorbs it.
            self._tracker.update(bgr)

    def track(self, image: np.ndarray):
        ok, box = self._tracker.update(self._bgr(image))
        if ok:
            self._box = tuple(float(v) for v in box)
        return self._box


def find_nanotrack_models(model_dir: Optional[Path] = None, dataset_root: Optional[Path] = None) -> Path:
    """The folder with NanoTrack's two ONNX files: `model_dir` (or its nanotrack_v2/), else $RMAN_PEER_MODELS,
    else a `models/` folder beside the dataset root or one or two levels above it (../shared/models for
    ../shared/data/otb). FileNotFoundError names every place it looked."""
    roots = []
    if model_dir is not None:
        roots.append(Path(model_dir))
    elif os.environ.get(PEER_MODELS_ENV):
        roots.append(Path(os.environ[PEER_MODELS_ENV]))
    elif dataset_root is not None:
        d = Path(dataset_root).resolve()
        roots += [d.parent / "models", d.parent.parent / "models"]
    looked = []
    for r in roots:
        for c in (r, r / "nanotrack_v2"):
            looked.append(str(c))
            if all((c / f).is_file() for f in NANOTRACK_FILES):
                return c
    raise FileNotFoundError(f"NanoTrack models ({', '.join(NANOTRACK_FILES)}) not found in: "
                            f"{', '.join(looked) or 'nowhere'}; pass --model-dir or set {PEER_MODELS_ENV}")


class NanoTrackTracker(OpenCVTracker):
    """OpenCV's NanoTrack (v2 ONNX models). Its tracking score stays high when the target is lost, so only
    the box is used."""

    def __init__(self, model_dir: Path):
        import cv2

        if not hasattr(cv2, "TrackerNano_create"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no TrackerNano")
        params = cv2.TrackerNano_Params()
        params.backbone = str(Path(model_dir) / NANOTRACK_FILES[0])
        params.neckhead = str(Path(model_dir) / NANOTRACK_FILES[1])
        super().__init__("nanotrack", factory=lambda: cv2.TrackerNano_create(params))


# --------------------------------------------------------------------------- RMAN
class RMANAdapter:
    """Adapter around :class:`rman_ros.core.RMANTracker` (synchronous use)."""

    _warmed_devices: set = set()  # a GPU's start-up costs are paid once per process and device

    def __init__(self, overrides: Optional[Dict[str, object]] = None, seed: int = 0):
        from rman_ros.core import RMANConfig, RMANTracker

        cfg = RMANConfig.from_dict(dict(overrides or {})) if overrides else RMANConfig()
        if seed:  # the run's seed offsets the config's own (run k of a --repeat gets seed + k - 1)
            cfg = cfg.replace(seed=(cfg.seed + int(seed)) % 2**31)
        self._tracker = RMANTracker(cfg)
        device = self._tracker.device
        if device != "cpu" and device not in self._warmed_devices:  # as the node does: not a frame's time
            self._tracker.warm_up()
            self._warmed_devices.add(device)
        self.last = None

    def initialize(self, image, box) -> None:
        self.last = self._tracker.initialize(image, tuple(float(v) for v in box))

    def track(self, image):
        self.last = self._tracker.track(image)
        return tuple(float(v) for v in self.last["box"])

    def stage_times(self) -> Dict[str, float]:
        """Seconds per stage of the last initialize/track call, and the tracker's update counter."""
        return dict(self.last["timings"], updates_done=self.last["updates_done"])

    def close(self) -> None:
        close = getattr(self._tracker, "close", None)
        if callable(close):
            close()


# --------------------------------------------------------------------------- published
def find_published_dir(name: str, published_root: Optional[Path], dataset_root: Optional[Path]) -> Path:
    """Folder holding ``<Seq>.txt`` files of a published tracker."""
    cand = []
    p = Path(name)
    if p.is_absolute() or "/" in name:
        cand.append(p)
    if published_root is not None:
        cand.append(Path(published_root) / name)
    if dataset_root is not None:
        d = Path(dataset_root).resolve()
        for base in (d, d.parent, d.parent.parent):
            cand.append(base / "published_results" / name)
    for c in cand:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"published results for {name!r} not found (looked in: "
                            f"{', '.join(str(c) for c in cand)}); pass --published-root")


def published_file(folder: Path, seq_name: str) -> Path:
    """Result file of a sequence in a published folder (case/'-'/'_' insensitive)."""
    exact = folder / f"{seq_name}.txt"
    if exact.is_file():
        return exact
    key = re.sub(r"[-_]", "", seq_name).lower()
    for f in folder.glob("*.txt"):
        if re.sub(r"[-_]", "", f.stem).lower() == key:
            return f
    raise FileNotFoundError(f"no published result for sequence {seq_name} in {folder}")


def make_tracker(spec: TrackerSpec, seed: int = 0):
    """Instantiate a tracking adapter (not for ``published``). `seed` is added to an RMAN config's seed
    (OpenCV trackers take theirs from the process-wide seeding)."""
    if spec.kind == "opencv":
        return OpenCVTracker(spec.name)
    if spec.kind == "nanotrack":
        return NanoTrackTracker(find_nanotrack_models(spec.model_dir))
    if spec.kind == "rman":
        return RMANAdapter(spec.overrides_dict, seed)
    raise ValueError(f"{spec.kind} trackers do not track frames")
