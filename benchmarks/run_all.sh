#!/usr/bin/env bash
# Run every CPU benchmark in sequence and keep tables (out/bench/*.txt) and JSON.
# Usage: bash benchmarks/run_all.sh [dataset folder for the training benchmark]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/bench
py=.venv/bin/python
$py benchmarks/bench_models.py --runs 20 --json out/bench/models.json | tee out/bench/models.txt
$py benchmarks/bench_onnx.py --runs 20 --json out/bench/onnx.json | tee out/bench/onnx.txt
$py benchmarks/bench_cpu_ops.py --runs 10 --json out/bench/cpu_ops.json | tee out/bench/cpu_ops.txt
$py benchmarks/bench_cpu_ops.py --runs 10 --precision fp32 --json out/bench/cpu_ops_fp32.json \
    | tee out/bench/cpu_ops_fp32.txt
$py benchmarks/bench_cpu_settings.py --runs 20 --compile --json out/bench/cpu.json | tee out/bench/cpu.txt
$py benchmarks/bench_node.py --frames 40 --duration 20 --json out/bench/node.json | tee out/bench/node.txt
# 480x360, 720p and 1080p side by side, three runs, sizes alternating (the ratio table)
$py benchmarks/bench_node.py --frames 30 --sizes 480x360,1280x720,1920x1080 --runs 3 \
    --json out/bench/node_sizes.json | tee out/bench/node_sizes.txt
$py benchmarks/bench_node.py --frames 30 --sizes 480x360,1280x720,1920x1080 --runs 3 \
    --param output_resolution=network --json out/bench/node_sizes_network.json \
    | tee out/bench/node_sizes_network.txt
$py benchmarks/bench_node.py --frames 30 --sizes 480x360,1280x720,1920x1080 --runs 3 \
    --param precision=fp32 --json out/bench/node_sizes_fp32.json | tee out/bench/node_sizes_fp32.txt
$py benchmarks/bench_node.py --frames 30 --sizes 480x360,1920x1080 --runs 3 --stock-camera \
    --json out/bench/node_sizes_stock.json | tee out/bench/node_sizes_stock.txt
$py benchmarks/bench_node.py --frames 30 --sizes 480x360 --runs 3 --param backend=onnxruntime \
    --json out/bench/node_onnx.json | tee out/bench/node_onnx.txt
# what reaches the node from stock-DDS cameras at 480x360, 720p and 1080p
$py benchmarks/bench_hd_input.py --frames 12 --json out/bench/hd_input.json | tee out/bench/hd_input.txt
$py benchmarks/bench_startup.py --runs 3 --json out/bench/startup.json | tee out/bench/startup.txt
$py benchmarks/bench_cloud.py --runs 30 --json out/bench/cloud.json | tee out/bench/cloud.txt
$py benchmarks/bench_train.py ${1:+--data "$1"} --steps 10 --json out/bench/train.json | tee out/bench/train.txt
$py benchmarks/bench_gpu.py --json out/bench/gpu.json | tee out/bench/gpu.txt
# ten minutes: the node on a slow model at 30 Hz (latency bound, flat memory)
$py benchmarks/soak.py --duration 600 --window 60 --json out/bench/soak.json | tee out/bench/soak.txt
