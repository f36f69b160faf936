"""A tiny progress printer (no third-party dependency).

On a terminal it redraws one line (``\\r``); otherwise (logs, CI) it prints a
line at most every ``min_interval`` seconds and at the end.
"""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str = "", stream=None, min_interval: float = 5.0, width: int = 24):
        self.total = max(0, int(total))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self.width = width
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._n = 0
        self._open = False

    def _line(self, n: int, extra: str) -> str:
        frac = n / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        el = time.perf_counter() - self.t0
        rate = n / el if el > 0 else 0.0
        eta = (self.total - n) / rate if rate > 0 else float("nan")
        eta_s = f"{eta:5.0f}s" if eta == eta else "   ?s"
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"{self.label} [{bar}] {n}/{self.total} {el:5.0f}s elapsed, eta {eta_s}"
        return text + (f" | {extra}" if extra else "")

    def update(self, n: int, extra: str = "", force_line: bool = False) -> None:
        self._n = n
        now = time.perf_counter()
        if self.tty:
            if force_line:
                self.stream.write("\r\033[K" + self._line(n, extra) + "\n")
                self._open = False
            else:
                self.stream.write("\r\033[K" + self._line(n, extra))
                self._open = True
            self.stream.flush()
        elif force_line or n >= self.total or now - self._last >= self.min_interval:
            self.stream.write(self._line(n, extra) + "\n")
            self.stream.flush()
            self._last = now

    def close(self) -> None:
        if self.tty and self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
