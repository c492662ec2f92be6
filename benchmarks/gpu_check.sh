#!/usr/bin/env bash
# Copyright 2026 segnet_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# The one GPU check, for a lent CUDA machine with torch but no ROS and no network:
#   1. install the carried wheels (.whl/: rosbags, slim ROS 2; benchmarks/gpu_carry.py)
#   2. test/test_cuda.py (pytest -m cuda): fp16 vs fp32 masks, one device-to-host copy,
#      a real out-of-memory error, memory released on close, the node on CUDA over DDS
#   3. benchmarks/bench_gpu.py: forward eager / CUDA graph / torch.compile, memory,
#      Segmenter stages and end to end, the node over DDS at rising rates
# Training is benchmarks/gpu_train.sh, run first in the same window (doc/gpu.md).
# Each step has its own time limit, and all together stay within GPU_CHECK_BUDGET seconds
# (default 180). Logs, JSON and Markdown go to ${OUT:-out/gpu}; the summary is printed last.
# Without CUDA every step says "no CUDA device" and training runs a tiny CPU smoke epoch.
#
#   OUT=/tmp/gpuout PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-out/gpu}
SITE=${SITE:-/tmp/segnet_gpu_site}
BUDGET=${GPU_CHECK_BUDGET:-180}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/cuda_checks.jsonl"
exec > >(tee "$OUT/log.txt") 2>&1
t_start=$(date +%s)
failed=()

elapsed() { echo $(($(date +%s) - t_start)); }
step() { echo; echo "=== $1 (at $(elapsed) s)"; }
# limited SECONDS NAME CMD...: run CMD for at most SECONDS, less if the budget is nearly spent.
limited() {
  local limit=$1 name=$2 left rc
  shift 2
  left=$((BUDGET - $(elapsed)))
  if [ "$left" -lt 15 ]; then
    echo "!!! $name left out: the ${BUDGET} s budget is spent"
    failed+=("$name (no time left)")
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  timeout -k 5 "$limit" "$@"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "!!! $name stopped at its ${limit} s limit" \
      || echo "!!! $name exited with status $rc"
    failed+=("$name (exit $rc)")
  fi
  return 0
}

step "versions"
(nvidia-smi -L 2>/dev/null && nvidia-smi --query-gpu=driver_version,memory.total \
  --format=csv,noheader 2>/dev/null) || echo "nvidia-smi: not present"
"$PY" - <<'EOF'
import sys

import torch
device = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device'
print(f'Python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, '
      f'cuDNN {torch.backends.cudnn.version()}, {torch.get_num_threads()} threads; {device}')
EOF
df -h /dev/shm | tail -1 | awk '{print "/dev/shm: " $2 " (Fast DDS shared memory)"}'
CUDA=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')

step "carried wheels"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
if ! ls .whl/*.whl >/dev/null 2>&1; then
  echo "no .whl/ here: nothing to install"
elif ! ls .whl/*-"$tag"-*.whl >/dev/null 2>&1; then
  echo "the carried wheels are not for $tag (this Python): not installed"
else
  t0=$(elapsed)
  if "$PY" -m pip --version >/dev/null 2>&1; then
    limited 60 "pip install" "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  else  # every carried wheel is flat (no .data scheme), so unpacking is installing
    echo "no pip in this Python: unpacking the wheels into $SITE instead"
    limited 60 "unpack wheels" "$PY" -c 'import sys, zipfile
for w in sys.argv[2:]:
    zipfile.ZipFile(w).extractall(sys.argv[1])' "$SITE" .whl/*.whl
  fi
  # The ROS wheels' libraries are in $SITE/lib (repacked by gpu_carry.py); nothing sets the
  # library path for them from PYTHONPATH, and it must be set before Python starts.
  export PYTHONPATH=$SITE:$PYTHONPATH
  export LD_LIBRARY_PATH=$SITE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export AMENT_PREFIX_PATH=$SITE
  echo "installed $(ls .whl/*.whl | wc -l) wheels into $SITE in $(($(elapsed) - t0)) s"
fi
"$PY" - <<'EOF'
for name in ('rclpy', 'sensor_msgs.msg', 'rosbags'):
    try:
        mod = __import__(name, fromlist=['_'])
        print(f"{name}: {getattr(mod, '__file__', None) or list(mod.__path__)[0]}")
    except ImportError as e:
        print(f'{name}: not importable ({e})')
EOF

step "CUDA tests (test/test_cuda.py)"
SEGNET_GPU_REPORT=$OUT/cuda_checks.jsonl limited 90 "pytest test_cuda.py" \
  "$PY" -m pytest -q -s -rs -p no:cacheprovider -m cuda test/test_cuda.py

step "GPU benchmark (benchmarks/bench_gpu.py)"
# Pages for doc/performance/ (copy $OUT/pages/*.md there): the CPU runs never touch them.
SEGNET_BENCH_PAGE=$OUT/pages/gpu.md limited 110 "bench_gpu.py" "$PY" benchmarks/bench_gpu.py \
  --compile-budget 40 \
  --json "$OUT/bench_gpu.json" --md "$OUT/bench_gpu.md"

# Training is gpu_train.sh's, the command before this one (README "GPU").

"$PY" - "$OUT" "$(elapsed)" "${failed[*]:-}" > "$OUT/summary.md" <<'EOF'
import json
import os
import sys

out, seconds, failed = sys.argv[1], sys.argv[2], sys.argv[3]
print(f'## GPU check ({seconds} s)\n')
print('Steps that failed or were cut: ' + (failed or 'none') + '.\n')
path = os.path.join(out, 'cuda_checks.jsonl')
rows = [json.loads(line) for line in open(path)] if os.path.isfile(path) else []
print('### CUDA checks (test/test_cuda.py)\n')
if rows:
    print('| check | results |\n| --- | --- |')
    for r in rows:
        check = r.pop('check')
        print(f'| {check} | ' + ', '.join(f'{k} {v}' for k, v in r.items()) + ' |')
else:
    print('No check ran (no CUDA device, or the tests did not get that far).')
for name in ('bench_gpu.md', 'train_epoch.md'):
    p = os.path.join(out, name)
    print()
    print(open(p).read() if os.path.isfile(p) else f'({name}: not written)')
EOF
cat "$OUT/summary.md"
echo "=== done in $(elapsed) s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
[ ${#failed[@]} -eq 0 ]
