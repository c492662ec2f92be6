#!/usr/bin/env bash
# Create .venv with ROS 2 (kilted) wheels, torch and the rest, install segnet_ros into it and
# register it in the venv's ament index (ros2 run / ros2 launch / get_package_share_directory).
# Idempotent: a second run only checks. Needs python3 (3.10+) with venv and pip.
# A failed install stops here: a missing package must never silently drop its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
quiet() {  # run pip quietly; its own exit status decides (pipefail), not grep's
  "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
}
# Reinstall when the requirements or setup.py (entry points) change.
stamp=.venv/.segnet_ros_requirements
if [ ! -f "$stamp" ] || ! cat requirements.txt setup.py | cmp -s - "$stamp"; then
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q -r requirements.txt
  quiet .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  .venv/bin/python -c "import torch, rclpy, sensor_msgs.msg, safetensors, rosbags, segnet_ros"
  cat requirements.txt setup.py > "$stamp"
fi
.venv/bin/python scripts/register_ament.py >/dev/null
