#!/usr/bin/env bash
# Runs the whole pytest suite inside the built environment (what `make test` runs after `make setup`).
set -eo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. install/setup.bash
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}"
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736}"
# the whole suite unless test files or folders are named (make test PYTEST_ARGS="test/test_x.py -k y")
targets=(test)
for a in "$@"; do case "$a" in test/*|./test/*) targets=();; esac; done
exec python -m pytest "${targets[@]}" -p no:cacheprovider -ra --durations=15 "$@"
