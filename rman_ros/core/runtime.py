"""Process-level CPU/device settings (applied explicitly, never at import time)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

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


def resolve_device(spec: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu'; 'cuda' / 'cuda:N' (ValueError when unavailable)."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA devices")
        return dev
    raise ValueError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)")


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (avx512_bf16 or AMX)."""
    try:
        with open("/proc/cpuinfo", "r", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False
    return False
