#!/usr/bin/env bash
# Run every CPU benchmark in sequence and keep tables (out/bench/*.txt) and JSON.
# Usage: bash benchmarks/run_all.sh [dataset folder for the training benchmark]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/bench
py=.venv/bin/python
$py benchmarks/bench_models.py --runs 20 --json out/bench/models.json | tee out/bench/models.txt
$py benchmarks/bench_onnx.py --runs 20 --json out/bench/onnx.json | tee out/bench/onnx.txt
$py benchmarks/bench_cpu_settings.py --runs 20 --compile --json out/bench/cpu.json | tee out/bench/cpu.txt
$py benchmarks/bench_node.py --frames 40 --duration 20 --json out/bench/node.json | tee out/bench/node.txt
$py benchmarks/bench_train.py ${1:+--data "$1"} --steps 10 --json out/bench/train.json | tee out/bench/train.txt
$py benchmarks/bench_gpu.py --json out/bench/gpu.json | tee out/bench/gpu.txt
# ten minutes: the node on a slow model at 30 Hz (latency bound, flat memory)
$py benchmarks/soak.py --duration 600 --window 60 --json out/bench/soak.json | tee out/bench/soak.txt
