"""``python -m rman_ros.bench``: the command line of :mod:`rman_ros.bench.cli`."""
import sys

from rman_ros.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
