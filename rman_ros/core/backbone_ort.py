"""The search-region backbone pass through ONNX Runtime on CPUs without bf16.

On a 2-core AVX2 CPU, ONNX Runtime runs the float32 EfficientNet-Lite0 cut (BatchNorm folded) in about
0.6x the time eager PyTorch takes. Its outputs agree with PyTorch's to float32 rounding (relative
differences near 1e-6), not bit for bit, so results differ from the PyTorch path as a different summation
order would.

The network's "SAME" padding is fixed when a region size is traced, so there is one ONNX graph per region
side (region_px, region_px_lost, region_px_init: two or three graphs). Exporting one takes seconds, so the
graphs are kept in a cache folder (`$RMAN_CACHE_DIR`, else `$XDG_CACHE_HOME/rman_ros`, else
`~/.cache/rman_ros`) under a key of the weights, the input size and the library versions, written
atomically; a process that cannot write there exports in memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch


def available() -> bool:
    """True when onnxruntime and onnx (needed by torch's exporter) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    env = os.environ.get("RMAN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rman_ros"


def _weights_key(net: torch.nn.Module, shape: Tuple[int, ...]) -> str:
    import onnxruntime

    h = hashlib.sha256()
    # the module's plain settings (e.g. multi_level) can change the graph without changing the weights
    settings = sorted((k, v) for k, v in vars(net).items()
                      if not k.startswith("_") and isinstance(v, (bool, int, float, str)))
    h.update(repr((type(net).__name__, settings, shape, torch.__version__, onnxruntime.__version__)).encode())
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def _export(net: torch.nn.Module, shape: Tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on Python-computed padding are expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(shape),), buf, input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class OrtBackbone:
    """Runs `net` (a float32 CPU module, eval mode) through ONNX Runtime, one session per input size. Call it
    like the module: (N, 3, H, W) float tensor -> (N, C, h, w) float32 tensor (contiguous NCHW)."""

    def __init__(self, net: torch.nn.Module, cache: Optional[Path] = None):
        import onnxruntime

        self._ort = onnxruntime
        self.net = net.float().eval()
        self.cache = cache_dir() if cache is None else Path(cache)
        self._sessions: Dict[Tuple[int, ...], object] = {}
        self._lock = threading.Lock()

    def _model(self, shape: Tuple[int, ...]) -> bytes:
        path = self.cache / "onnx" / f"backbone-{_weights_key(self.net, shape)}.onnx"
        if path.is_file():
            return path.read_bytes()
        data = _export(self.net, shape)
        try:
            _write_atomic(path, data)
        except OSError:
            pass  # a read-only cache: the graph is used from memory and exported again next time
        return data

    def session(self, shape: Tuple[int, ...]):
        """The session for inputs of `shape`, made on first use with as many threads as torch uses in the
        calling thread (the node sets the frame thread's count before the first frame)."""
        with self._lock:
            sess = self._sessions.get(shape)
            if sess is None:
                opts = self._ort.SessionOptions()
                opts.intra_op_num_threads = torch.get_num_threads()
                opts.inter_op_num_threads = 1
                # no busy-waiting between runs: the frame's other stages (torch) need those cores at once
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                sess = self._ort.InferenceSession(self._model(shape), opts, providers=["CPUExecutionProvider"])
                self._sessions[shape] = sess
            return sess

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(int(v) for v in x.shape)
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = self.session(shape).run(None, {"x": arr})[0]
        return torch.from_numpy(out)
