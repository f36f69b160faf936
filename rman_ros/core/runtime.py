"""Process-level CPU/device settings (applied explicitly, never at import time)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Optional

import numpy as np
import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_malloc_lock = threading.Lock()
_malloc_done = False


def tune_glibc_malloc() -> bool:
    """mallopt(M_MMAP_MAX=0) and a huge M_TRIM_THRESHOLD: avoids mmap/munmap churn in big convolutions
    (5-7x faster batched CNN on glibc, see PERF.md). Applied once per process; False when not glibc."""
    global _malloc_done
    with _malloc_lock:
        if _malloc_done:
            return True
        if not sys.platform.startswith("linux"):
            return False
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            libc = ctypes.CDLL(name)
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False  # not glibc (e.g. musl): nothing to tune
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
        _malloc_done = ok
        return ok


def check_device_name(spec: str) -> Optional[str]:
    """None when `spec` names a device (auto, cpu, cuda, cuda:N), else the reason; no hardware is queried."""
    v = str(spec).strip().lower()
    if v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit()):
        return None
    return f"device={spec!r}: expected auto, cpu, cuda or cuda:N"


def resolve_device(spec: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu'; 'cuda' / 'cuda:N' (ValueError when unavailable). The one
    place a device name becomes a device: the tracker, the node and device_check all call it."""
    spec = (spec or "auto").strip().lower()
    err = check_device_name(spec)
    if err:
        raise ValueError(err)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    dev = torch.device(spec)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def host_to_device(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """A numpy array as a tensor on `device`. On the CPU: `torch.from_numpy` (shares the buffer). On an
    accelerator the copy goes through pinned memory without blocking: a plain `.to(device)` waits for
    all queued GPU work first, which made every sample index and dropout mask a host-device sync."""
    if device.type == "cpu":
        return torch.from_numpy(a)
    return torch.from_numpy(np.ascontiguousarray(a)).pin_memory().to(device, non_blocking=True)


_matmul_lock = threading.Lock()
_onednn_exact: Optional[bool] = None  # the probe's verdict on oneDNN's float32 products, once per process


def _cpuinfo_field(name: str) -> str:
    """The value of the first `name` line of /proc/cpuinfo; '' when there is none (or no /proc)."""
    try:
        with open("/proc/cpuinfo", "r", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_description() -> str:
    """The CPU's model name, core count and the instruction-set flags that decide the tracker's speed, e.g.
    'AMD EPYC (2 cores; avx2, no avx512, no bf16)': every speed figure names its machine with this."""
    flags = set(_cpuinfo_field("flags").split())
    isa = ["avx2" if "avx2" in flags else "no avx2",
           "avx512" if "avx512f" in flags else "no avx512",
           "bf16" if ({"avx512_bf16", "amx_bf16"} & flags) else "no bf16"]
    if "amx_tile" in flags:
        isa.append("amx")
    name = _cpuinfo_field("model name") or "unknown CPU"
    return f"{name} ({os.cpu_count()} cores; {', '.join(isa)})"


def cpu_vendor() -> str:
    """The vendor_id of /proc/cpuinfo (e.g. AuthenticAMD, GenuineIntel); '' when unknown."""
    return _cpuinfo_field("vendor_id")


def fp32_product_error(mm) -> float:
    """Worst error of the matrix product `mm(a, b)` on the head's shapes (thin LSTM products, fc1, a weight
    gradient) against float64, relative to the float32 rounding bound (2^-24 sqrt(k) |a| |b| per entry):
    about 1 or below for float32 arithmetic, hundreds when the inputs were rounded to bf16."""
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for m, k, n in ((8, 2048, 512), (64, 1024, 512), (2048, 40, 512)):
        a = torch.randn((m, k), generator=g)
        b = torch.randn((k, n), generator=g)
        ref = a.double() @ b.double()
        bound = 2.0 ** -24 * k ** 0.5 * (a.double().abs() @ b.double().abs()).clamp_min(1e-30)
        worst = max(worst, float(((mm(a, b).double() - ref).abs() / bound).max()))
    return worst


def select_matmul_backend(choice: str) -> str:
    """Which library runs torch's float32 matrix products on the CPU, process-wide: 'mkl' (torch's default)
    or 'onednn'. choice 'auto' takes oneDNN on AMD CPUs with AVX-512, where MKL's float32 kernels run the
    head's thin products 2-5x slower than oneDNN's; 'onednn' takes it on any CPU. oneDNN is reached through
    torch's mkldnn matmul precision setting, which also permits bf16 arithmetic where oneDNN has bf16
    kernels for float32 inputs (AMX): so oneDNN is only kept when a probe finds its products exact float32
    (`fp32_product_error`, run once per process). Returns the backend in use."""
    if choice not in ("auto", "mkl", "onednn"):
        raise ValueError(f"unknown matmul backend {choice!r} (use auto, mkl or onednn)")
    mm_cfg = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    with _matmul_lock:
        if mm_cfg is None or not hasattr(mm_cfg, "fp32_precision") or not torch.backends.mkldnn.is_available():
            return "mkl"
        want = choice == "onednn" or (choice == "auto" and cpu_vendor() == "AuthenticAMD"
                                      and torch.backends.cpu.get_cpu_capability().startswith("AVX512"))
        mm_cfg.fp32_precision = "none"
        if not want:
            return "mkl"
        mm_cfg.fp32_precision = "bf16"  # lets float32 products reach oneDNN
        global _onednn_exact
        if _onednn_exact is None:
            _onednn_exact = fp32_product_error(torch.mm) <= 8.0  # else oneDNN rounded the inputs to bf16
        if not _onednn_exact:  # keep MKL's exact float32
            mm_cfg.fp32_precision = "none"
            return "mkl"
        return "onednn"


DISABLE_BF16_ENV = "RMAN_DISABLE_BF16"


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (avx512_bf16 or AMX) and the environment variable
    RMAN_DISABLE_BF16 is not set to 1: with it set, every bf16 path (backbone autocast, bf16 scoring) takes
    its float32 alternative, as on a CPU without bf16 (the test suite runs both paths this way)."""
    if os.environ.get(DISABLE_BF16_ENV, "") == "1":
        return False
    flags = set(_cpuinfo_field("flags").split())
    return "avx512_bf16" in flags or "amx_bf16" in flags
