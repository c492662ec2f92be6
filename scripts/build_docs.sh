#!/usr/bin/env bash
# Build the documentation offline into build/docs, and fail on any Sphinx warning (a broken
# link between pages, a page no index reaches, a bad include) or a stale generated page.
#
#   bash scripts/build_docs.sh [--venv .venv]      # the HTML in build/docs/html
#
# Installs requirements-docs.txt (rosdoc2 and a pinned Sphinx) into the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
venv=.venv
[ "${1:-}" = "--venv" ] && venv=$2
[ -x "$venv/bin/python" ] || { echo "build_docs.sh: no $venv; run scripts/setup.sh first" >&2; exit 1; }
"$venv/bin/python" -m pip install -q -r requirements-docs.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
"$venv/bin/python" scripts/gen_reference.py --check
out=$repo/build/docs
rm -rf "$out"
mkdir -p "$out"
# The pages: Sphinx on doc/ (doc/conf.py), every warning an error. rosdoc2 0.2.1 wraps a
# package's doc/ twice (as the Sphinx project and again as "user docs") and adds pages of its
# own outside any toctree, so its log always has warnings; it is run after, as docs.ros.org
# would, and must only succeed.
if ! "$venv/bin/python" -m sphinx -b html -W --keep-going -q doc "$out/html" \
    2> "$out/sphinx.log"; then
  cat "$out/sphinx.log" >&2
  echo "build_docs.sh: the documentation has warnings or errors (above)" >&2
  exit 1
fi
if ! PATH=$repo/$venv/bin:$PATH "$venv/bin/rosdoc2" build --package-path . \
    --doc-build-directory "$out/rosdoc2_build" \
    --cross-reference-directory "$out/cross_reference" \
    --output-directory "$out/rosdoc2" > "$out/rosdoc2.log" 2>&1; then
  tail -40 "$out/rosdoc2.log" >&2
  echo "build_docs.sh: rosdoc2 failed (log: $out/rosdoc2.log)" >&2
  exit 1
fi
echo "documentation in $out/html/index.html (rosdoc2's build: $out/rosdoc2/segnet_ros)"
