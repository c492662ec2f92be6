#!/usr/bin/env bash
# Build the test-only interface packages (test/interfaces: vision_msgs' LabelInfo and
# VisionClass) with colcon, the way a ROS workspace builds them, into a test-only prefix:
#
#   bash scripts/build_test_interfaces.sh [--distro kilted|jazzy]
#
# -> build/test_interfaces/<distro>/install, which test/conftest.py puts on the paths when no
# real vision_msgs imports. Never into the venv: there it would shadow a real vision_msgs.
# Needs cmake and a C/C++ compiler (.ci/run installs them); the rosidl and ament build
# wheels are installed into the distro's venv, pinned to that distro (ros-<distro>-*).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
distro=kilted
while [ $# -gt 0 ]; do
  case "$1" in
    --distro) distro=${2:-}; shift 2 || { echo "build_test_interfaces.sh: --distro needs a value" >&2; exit 2; } ;;
    --distro=*) distro=${1#--distro=}; shift ;;
    *) echo "build_test_interfaces.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$distro" in
  kilted) venv=${VENV:-.venv} ;;
  jazzy) venv=${VENV:-.venv-jazzy} ;;
  *) echo "build_test_interfaces.sh: unknown distro '$distro' (kilted or jazzy)" >&2; exit 2 ;;
esac
for tool in cmake cc c++; do
  command -v "$tool" >/dev/null || { echo "build_test_interfaces.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$venv/bin/python" ] || { echo "build_test_interfaces.sh: no $venv; run scripts/setup.sh --distro $distro first" >&2; exit 1; }
py=$repo/$venv/bin/python
# Kilted split ament_cmake_ros_core out of ament_cmake_ros; Jazzy's generators use the whole
# ament_cmake_ros (which finds gmock, gtest and pytest) and python_cmake_module.
case "$distro" in
  kilted) extra=(ament-cmake-ros-core) ;;
  jazzy) extra=(ament-cmake-ros ament-cmake-gmock ament-cmake-gtest ament-cmake-pytest
                python-cmake-module) ;;
esac
"$py" -m pip install -q "ros-$distro-ament-cmake" "ros-$distro-ament-package" \
  "ros-$distro-ament-cmake-include-directories" "${extra[@]/#/ros-$distro-}" \
  "ros-$distro-rosidl-core-generators" \
  "ros-$distro-rosidl-default-generators" \
  2>&1 | { grep -v '^WARNING: Location' >&2 || true; }  # pip's errors reach setup.sh's caller

out=$repo/build/test_interfaces/$distro
rm -rf "$out"
mkdir -p "$out/src"
cp -r test/interfaces/vision_msgs "$out/src/"  # out of test/interfaces, whose COLCON_IGNORE stops colcon

# The wheels' exported CMake files name the include folders of the machine that built them
# (/opt/python/cp311-cp311/...), which CMake refuses as missing: point them at this venv's
# Python and numpy headers, in place (idempotent; nothing else in those files changes).
pyinc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$py" -c 'import numpy; print(numpy.get_include())')
{ grep -rl --include='*.cmake' '/opt/python/cp' "$repo/$venv/share" || true; } | while read -r f; do
  sed -i -e "s#/opt/python/cp[0-9]*-cp[0-9]*/include/python[0-9.]*#$pyinc#g" \
         -e "s#/opt/python/cp[0-9]*-cp[0-9]*/lib/python[0-9.]*/site-packages/numpy/[a-z_]*/include#$npinc#g" \
         -e "s#/opt/python/cp[0-9]*-cp[0-9]*/lib/python[0-9.]*/site-packages/numpy/core/include#$npinc#g" "$f"
done
(
  set +u
  source "$venv/bin/activate"
  export AMENT_PREFIX_PATH=$repo/$venv  # the wheels index the type supports there
  export CMAKE_PREFIX_PATH=$repo/$venv
  cd "$out"
  # colcon warns that the venv, an underlay without local_setup files, is not a workspace.
  colcon --log-level error build --merge-install --install-base "$out/install" \
    --build-base "$out/build" --event-handlers console_cohesion- summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$py" \
      -DPython3_INCLUDE_DIR="$pyinc" -DPython3_NumPy_INCLUDE_DIR="$npinc" \
      -DCMAKE_INSTALL_RPATH="$out/install/lib" -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON
)
echo "test interfaces for $distro in $out/install"
