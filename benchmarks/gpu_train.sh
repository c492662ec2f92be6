#!/usr/bin/env bash
# The CUDA SegNet's training, as one prepared command for a lent GPU machine (run it FIRST,
# then gpu_check.sh): segnet_train on CamVid train + val with config/train_segnet_cuda.yaml
# under its own time limit, an fp16 snapshot each epoch, then the model file the node loads.
#
#   OUT=/tmp/out PYTHON=python3 bash benchmarks/gpu_train.sh           # LIMIT=280 s in all
#   INIT=<a returned segnet_camvid_cuda.safetensors> ... bash benchmarks/gpu_train.sh
#
# Data: DATA=<CamVid folder>, else .gpudata/camvid_trainval.tar (gpu_carry.py data). Writes
# into $OUT: segnet_camvid_cuda.safetensors (fp16, the node's model file: copy it to models/),
# curves.png and history.json (the training curve), train.log. A run cut at its limit still
# writes the last epoch's snapshot. EXTRA='--set k=v ...' adds overrides (CI runs it on the
# CPU on a tiny generated dataset for one epoch, so the GPU never meets a bug the CPU finds).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_train}
PY=${PYTHON:-python3}
LIMIT=${LIMIT:-280}
CONFIG=${CONFIG:-config/train_segnet_cuda.yaml}
start=$SECONDS
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/train.log") 2>&1
# What the GPU image lacks comes from the carried wheels (as gpu_check.sh installs them).
if [ -d .whl ] && ! "$PY" -c 'import safetensors, yaml, tqdm' 2>/dev/null; then
  "$PY" -m pip install -q --no-index --find-links .whl safetensors pyyaml tqdm matplotlib \
    2>&1 | tail -2
fi
data=${DATA:-}
if [ -z "$data" ]; then
  [ -f .gpudata/camvid_trainval.tar ] || { echo "gpu_train.sh: no DATA and no .gpudata/camvid_trainval.tar (python benchmarks/gpu_carry.py data)"; exit 2; }
  data=$(mktemp -d /tmp/segnet_camvid.XXXXXX)
  tar -xf .gpudata/camvid_trainval.tar -C "$data"
fi
read -r -a extra <<< "${EXTRA:-}"
init=()
[ -n "${INIT:-}" ] && init=(--init "$INIT")
# Training gets what is left but 30 s for the export; SIGINT first, so the run ends cleanly.
left=$((LIMIT - (SECONDS - start) - 30))
echo "segnet_train: $CONFIG on $data, $left s at most"
timeout --signal=INT --kill-after=10 "$left" "$PY" -m segnet_ros.ros.entry segnet_train \
  --config "$CONFIG" --data "$data" --out "$OUT/run" "${init[@]}" "${extra[@]}"
echo "segnet_train exited with $? (124: stopped at the time limit, its last snapshot kept)"
snapshot=$OUT/run/snapshot_fp16.safetensors
if [ ! -f "$snapshot" ]; then
  echo "gpu_train.sh: no epoch finished; nothing to export"
  exit 1
fi
"$PY" -m segnet_ros.ros.entry segnet_export "$snapshot" --fp16 \
  --model-file "$OUT/segnet_camvid_cuda.safetensors" || exit 1
cp "$OUT/run/history.json" "$OUT/run/curves.png" "$OUT/" 2>/dev/null
rm -rf "$OUT/run/last.ckpt"  # optimizer state too: too large to come back, and not needed
"$PY" - "$OUT/segnet_camvid_cuda.safetensors" <<'PYEOF'
import sys
from segnet_ros import modelfile
info = modelfile.read_model_info(sys.argv[1])
print(f'{sys.argv[1]}: {info.architecture} x{info.width}, {info.num_classes} classes, '
      f'input {info.input_size}, metrics {info.metrics}')
PYEOF
echo "gpu_train.sh done in $((SECONDS - start)) s"
