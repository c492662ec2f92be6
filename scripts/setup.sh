#!/usr/bin/env bash
# Create a venv with the ROS 2 wheels of one distro, torch and the rest, install segnet_ros
# into it and register it in the venv's ament index (ros2 run / ros2 launch /
# get_package_share_directory). Idempotent: a second run only checks.
#
#   bash scripts/setup.sh                  # Kilted (Fast DDS 3.2) into .venv
#   bash scripts/setup.sh --distro jazzy   # Jazzy (Fast DDS 2.14) into .venv-jazzy
#   bash scripts/setup.sh --tests          # also the test-only interfaces the tests need
#                                          # (vision_msgs; needs cmake and a C++ compiler)
#
# VENV=<folder> chooses another folder. Needs python3 (3.10+) with venv and pip; the ROS
# wheels on PyPI are cp311 builds, so a venv of another Python finds none.
# A failed install stops here: a missing package must never silently drop its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
distro=kilted
tests=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tests) tests=1; shift ;;
    --distro) distro=${2:-}; shift 2 || { echo "setup.sh: --distro needs a value" >&2; exit 2; } ;;
    --distro=*) distro=${1#--distro=}; shift ;;
    *) echo "setup.sh: unknown argument '$1' (use --distro kilted|jazzy, --tests)" >&2; exit 2 ;;
  esac
done
case "$distro" in
  kilted) venv=${VENV:-.venv} ;;
  jazzy) venv=${VENV:-.venv-jazzy} ;;
  humble) echo "setup.sh: no Humble wheels exist on PyPI; on Humble build in a ROS 2" \
                "workspace (README, 'In a ROS 2 workspace')" >&2; exit 2 ;;
  *) echo "setup.sh: unknown distro '$distro' (kilted or jazzy)" >&2; exit 2 ;;
esac
reqs=requirements-$distro.txt
PY=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$PY" -m venv "$venv"
fi
quiet() {  # run pip quietly; its own exit status decides (pipefail), not grep's
  "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
}
# Reinstall when the requirements or setup.py (entry points) change.
stamp=$venv/.segnet_ros_requirements
if [ ! -f "$stamp" ] || ! cat requirements.txt "$reqs" setup.py bin/* | cmp -s - "$stamp"; then
  quiet "$venv/bin/python" -m pip install -q --upgrade pip
  quiet "$venv/bin/python" -m pip install -q -r "$reqs"
  quiet "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  "$venv/bin/python" -c "import torch, rclpy, sensor_msgs.msg, safetensors, rosbags, segnet_ros"
  cat requirements.txt "$reqs" setup.py bin/* > "$stamp"
fi
"$venv/bin/python" scripts/register_ament.py >/dev/null
if [ "$tests" = 1 ]; then
  # Rebuilt only when its sources, the build script or the distro's wheels changed.
  sources() {
    find test/interfaces/vision_msgs -type f | sort | xargs cat
    cat "$venv/.segnet_ros_requirements" scripts/build_test_interfaces.sh
  }
  stamp_t=build/test_interfaces/$distro/.sources
  if [ ! -f "$stamp_t" ] || ! sources | cmp -s - "$stamp_t"; then
    VENV=$venv bash scripts/build_test_interfaces.sh --distro "$distro" >/dev/null
    sources > "$stamp_t"
  fi
fi
