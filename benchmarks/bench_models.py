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
Benchmark model inference on 360x480 frames, side by side in one run.

Times the bare forward pass and the whole Segmenter call (resize, forward, argmax, colours,
overlay, copy back) for the bundled model and for reference architectures with random
weights, on the same frames, interleaved so that machine noise hits all alike. Prints a table
and writes JSON.

    .venv/bin/python benchmarks/bench_models.py --runs 20 --json out/bench_models.json
"""

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
from segnet_ros import modelfile
from segnet_ros.inference import Segmenter
from segnet_ros.inference import SegmenterError
from segnet_ros.nets import build_model
from segnet_ros.paths import default_model_path
from segnet_ros.stats import save_json
from segnet_ros.stats import summarize
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reference_model(tmp, name, width, input_size=(360, 480)):
    """Write a random-weight model file of an architecture at ``input_size``."""
    path = os.path.join(tmp, f'{name}_x{width}_{input_size[0]}.safetensors')
    model = build_model(name, 11, width)
    modelfile.save_model_file(path, model, modelfile.default_info(
        name, 11, width=width, input_size=list(input_size)))
    return path


# The reference of the budget: SegNet-Basic, random weights, timed in fp32.
BASE = 'segnet_basic x1.0 @360x480'

# Larger default-model candidates (random weights): what the speed budget buys.
CANDIDATES = (('segnet', 0.5, (180, 240)), ('segnet', 0.25, (360, 480)),
              ('segnet', 0.5, (240, 320)))


def main(argv=None):
    """Run the benchmark; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=20, help='timed runs per model')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0 = default)')
    p.add_argument('--full', action='store_true', help='also time full SegNet (slow on CPU)')
    p.add_argument('--candidates', action='store_true',
                   help='also time larger default-model candidates (random weights)')
    p.add_argument('--model', action='append', default=[], metavar='PATH',
                   help='also time this model file, in the precision the node picks '
                        '(repeatable): a trained candidate for the default')
    p.add_argument('--json', help='write results here')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    frame = np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {'bundled (' + os.path.basename(default_model_path()) + ')':
                 default_model_path(),
                 BASE: reference_model(tmp, 'segnet_basic', 1.0)}
        if args.full:
            paths['segnet x1.0 @360x480'] = reference_model(tmp, 'segnet', 1.0)
        if args.candidates:
            for name, width, size in CANDIDATES:
                paths[f'candidate {name} x{width} @{size[0]}x{size[1]}'] = \
                    reference_model(tmp, name, width, size)
        for path in args.model:
            name = f'{os.path.basename(path)} (--model)'
            paths[name if name not in paths else f'{path} (--model)'] = path
        # The budget (issue 11): SegNet-Basic in fp32, ours in the precision the node picks
        # by default here (precision auto: bf16 on CPUs with native bf16).
        try:
            segs = {k: Segmenter(v, device=args.device,
                                 precision='fp32' if k == BASE else 'auto')
                    for k, v in paths.items()}
        except SegmenterError as e:
            print(f'bench_models: error: {e}', file=sys.stderr)
            return 2
        for seg in segs.values():
            for _ in range(args.warmup):
                seg.segment(frame, outputs=('mask', 'color', 'overlay'))
        times = {k: {'forward': [], 'segment': []} for k in segs}
        for _ in range(args.runs):
            for name, seg in segs.items():
                res = seg.segment(frame, outputs=('mask', 'color', 'overlay'))
                times[name]['forward'].append(res.infer_s * 1000)
                times[name]['segment'].append(res.total_s * 1000)
    rows = []
    print(f'device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} '
          f'threads, {platform.processor() or platform.machine()}, {args.runs} runs, '
          '360x480 frames')
    print(f"{'model':<46}{'params':>10}{'net input':>11}{'precision':>11}{'forward ms':>12}"
          f"{'segment ms':>12}{'speed-up':>10}")
    base_ms = summarize(times[BASE]['segment'])['p50']
    for name, seg in segs.items():
        f = summarize(times[name]['forward'])
        s = summarize(times[name]['segment'])
        params = seg.parameter_count  # the file's, not the folded model's
        size = 'x'.join(map(str, seg.input_size))
        speedup = base_ms / s['p50']
        prec = seg.dtype_name
        rows.append({'model': name, 'params': params, 'input_size': list(seg.input_size),
                     'precision': prec, 'forward_ms': f, 'segment_ms': s,
                     'speedup_vs_segnet_basic': speedup})
        print(f"{name:<46}{params:>10,}{size:>11}{prec:>11}{f['p50']:>12.1f}{s['p50']:>12.1f}"
              f'{speedup:>9.1f}x')
    print('ms are medians; "segment" is the whole call on a 360x480 frame (resize, forward, '
          'argmax, colours, overlay); speed-up is segnet_basic (fp32) segment / model segment; '
          'the default model must reach 12x (issue 11).')
    save_json(args.json, {'device': args.device, 'torch': torch.__version__,
                          'threads': torch.get_num_threads(), 'runs': args.runs,
                          'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'rows': rows})
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
