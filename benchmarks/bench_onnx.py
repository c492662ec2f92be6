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

"""
PyTorch against ONNX Runtime on the CPU, per model size, in one run.

Each model is exported to ONNX (opset 17) and both runtimes run the same normalised input at
the model's input size, interleaved. Prints a table and writes JSON.

    .venv/bin/python benchmarks/bench_onnx.py --runs 20 --json out/bench_onnx.json
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from segnet_ros import modelfile
from segnet_ros.nets import build_model
from segnet_ros.paths import default_model_path
from segnet_ros.stats import save_json
from segnet_ros.stats import summarize
from segnet_ros.training.export import export_onnx
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    """Run the comparison."""
    import onnxruntime as ort
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=20)
    p.add_argument('--full', action='store_true', help='include full SegNet at 360x480')
    p.add_argument('--json')
    args = p.parse_args(argv)
    rows = []
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        models = {'bundled': default_model_path()}
        for name, width, size in (('segnet', 0.25, [360, 480]), ('segnet', 0.5, [360, 480]),
                                  ('segnet_basic', 1.0, [360, 480])) + (
                                      (('segnet', 1.0, [360, 480]),) if args.full else ()):
            path = os.path.join(tmp, f'{name}_{width}.safetensors')
            modelfile.save_model_file(path, build_model(name, 11, width), modelfile.default_info(
                name, 11, width=width, input_size=size))
            models[f'{name} x{width} @{size[0]}x{size[1]}'] = path
        print(f'CPU, torch {torch.__version__} ({torch.get_num_threads()} threads), '
              f'onnxruntime {ort.__version__}, {args.runs} runs, batch 1')
        print(f"{'model':<30}{'input':>9}{'torch ms':>10}{'ORT ms':>9}{'ORT/torch':>11}"
              f"{'rel. diff':>12}")
        for label, path in models.items():
            model, info = modelfile.load_model_file(path)
            model = model.to(memory_format=torch.channels_last)
            onnx_path = os.path.join(tmp, 'm.onnx')
            export_onnx(path, onnx_path)
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle ORT threads must not spin while torch runs, nor the other way round.
            opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
            sess = ort.InferenceSession(onnx_path, opts, providers=['CPUExecutionProvider'])
            x = torch.randn(1, 3, *info.input_size)
            xc = x.contiguous(memory_format=torch.channels_last)
            xn = x.numpy()
            with torch.inference_mode():
                ref = model(xc).numpy()
                # Relative to the largest logit: trained models have large logits.
                diff = float(np.abs(sess.run(None, {'image': xn})[0] - ref).max()
                             / max(1e-6, np.abs(ref).max()))
                for _ in range(3):
                    model(xc)
                    sess.run(None, {'image': xn})
                # In blocks, not interleaved: each runtime's thread pool stays warm.
                tt, to = [], []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    model(xc)
                    tt.append(1000 * (time.perf_counter() - t))
                for _ in range(args.runs):
                    t = time.perf_counter()
                    sess.run(None, {'image': xn})
                    to.append(1000 * (time.perf_counter() - t))
            st, so = summarize(tt), summarize(to)
            size = f'{info.input_size[0]}x{info.input_size[1]}'
            print(f"{label:<30}{size:>9}{st['p50']:>10.1f}{so['p50']:>9.1f}"
                  f"{so['p50'] / st['p50']:>11.2f}{diff:>12.2e}")
            rows.append({'model': label, 'input_size': info.input_size, 'torch_ms': st,
                         'ort_ms': so, 'max_rel_diff': diff})
    print('ms are medians of the forward pass alone; ORT/torch < 1 means ONNX Runtime is '
          'faster; rel. diff = max |ORT - torch| / max |torch| over the logits.')
    save_json(args.json, rows)
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
