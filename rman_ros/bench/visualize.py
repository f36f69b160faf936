"""Sec. III-C figures (Fig. 3 activation weights, Fig. 4 attention maps, Fig. 5 PCC histograms).

The data come from ``rman_ros.core.analysis`` (core engineer); this module only draws.
"""
from __future__ import annotations

import sys


def main(args) -> int:
    try:
        from rman_ros.core import analysis  # noqa: F401
    except ImportError as exc:
        print("error: visualize is not available yet: rman_ros.core.analysis is missing "
              f"({exc}). It will draw Fig. 3/4/5 once the core package provides it.", file=sys.stderr)
        return 3
    print("error: visualize is not available yet: rman_ros.core.analysis exists but its data "
          "functions are not wired to the plots in this version.", file=sys.stderr)
    return 3
