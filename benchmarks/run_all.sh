#!/usr/bin/env bash
# Run every CPU benchmark in sequence: tables and JSON in out/bench/, and each table as its
# page in doc/performance/ (replaced whole, with the command, date, machine and commit on
# top; the GPU pages, written by gpu_check.sh, are left alone).
# Usage: bash benchmarks/run_all.sh [dataset folder for the training benchmark]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/bench doc/performance
py=.venv/bin/python
bench() {  # bench <page name> <script> [args...]
  local name=$1 script=$2
  shift 2
  SEGNET_BENCH_PAGE=doc/performance/$name.md $py "benchmarks/$script" "$@" \
    --json "out/bench/$name.json" | tee "out/bench/$name.txt"
}
bench models bench_models.py --runs 20
bench onnx bench_onnx.py --runs 20
bench cpu_ops bench_cpu_ops.py --runs 10
bench cpu_ops_fp32 bench_cpu_ops.py --runs 10 --precision fp32
bench cpu_settings bench_cpu_settings.py --runs 20 --compile
bench node bench_node.py --frames 40 --duration 20
# 480x360, 720p and 1080p side by side, three runs, sizes alternating (the ratio table)
bench node_sizes bench_node.py --frames 30 --sizes 480x360,1280x720,1920x1080 --runs 3
bench node_sizes_network bench_node.py --frames 30 --sizes 480x360,1280x720,1920x1080 \
  --runs 3 --param output_resolution=network
bench node_sizes_fp32 bench_node.py --frames 30 --sizes 480x360,1280x720,1920x1080 --runs 3 \
  --param precision=fp32
bench node_sizes_stock bench_node.py --frames 30 --sizes 480x360,1920x1080 --runs 3 \
  --stock-camera
bench node_onnx bench_node.py --frames 30 --sizes 480x360 --runs 3 --param backend=onnxruntime
# what reaches the node from stock-DDS cameras at 480x360, 720p and 1080p
bench hd_input bench_hd_input.py --frames 12
bench startup bench_startup.py --runs 3
bench cloud bench_cloud.py --runs 30
bench train bench_train.py ${1:+--data "$1"} --steps 10
# ten minutes: the node on a slow model at 30 Hz (latency bound, flat memory)
bench soak soak.py --duration 600 --window 60
