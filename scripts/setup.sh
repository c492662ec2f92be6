#!/usr/bin/env bash
# Create .venv with ROS 2 (kilted) wheels, torch and the rest, and install segnet_ros into it.
# Idempotent: a second run only checks. Needs python3 (3.10+) with venv and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.segnet_ros_requirements
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>&1 \
    | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import torch, rclpy, sensor_msgs.msg, safetensors, rosbags, segnet_ros"
  cp requirements.txt "$stamp"
fi
