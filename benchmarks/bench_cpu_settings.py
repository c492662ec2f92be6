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
CPU settings that matter for the forward pass of the bundled model, side by side.

Threads, channels-last memory format, inference_mode against no_grad, bf16 autocast (where
the CPU has native bf16) and torch.compile, each timed on the same input in one run.

    .venv/bin/python benchmarks/bench_cpu_settings.py --runs 20 --json out/bench_cpu.json
"""

import argparse
import os
import sys
import time

from segnet_ros import modelfile
from segnet_ros.paths import default_model_path
from segnet_ros.stats import save_json
from segnet_ros.stats import summarize
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn, runs, warmup=3):
    """Median ms of ``fn()``."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(1000 * (time.perf_counter() - t))
    return summarize(ts)


def main(argv=None):
    """Run the comparison."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default=default_model_path())
    p.add_argument('--runs', type=int, default=20)
    p.add_argument('--compile', action='store_true', help='include torch.compile (slow start)')
    p.add_argument('--json')
    args = p.parse_args(argv)
    model, info = modelfile.load_model_file(args.model)
    x = torch.randn(1, 3, *info.input_size)
    cl_model = modelfile.load_model_file(args.model)[0].to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    ref = model(x).argmax(1)
    max_threads = torch.get_num_threads()
    cases = []

    def case(name, fn, threads=max_threads):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            agree = float((fn().float().argmax(1) == ref).float().mean())
        s = timed(lambda: fn(), args.runs)
        cases.append({'setting': name, 'threads': threads, 'ms': s, 'mask_agreement': agree})

    def im(m, inp):
        def run():
            with torch.inference_mode():
                return m(inp)
        return run

    def ng(m, inp):
        def run():
            with torch.no_grad():
                return m(inp)
        return run

    def bf16(m, inp):
        def run():
            with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16):
                return m(inp)
        return run

    for t in sorted({1, max_threads}):
        case('fp32, NCHW, inference_mode', im(model, x), t)
    case('fp32, NCHW, no_grad', ng(model, x))
    case('fp32, channels_last, inference_mode', im(cl_model, xc))
    case('bf16 autocast, channels_last', bf16(cl_model, xc))
    if args.compile:
        compiled = torch.compile(cl_model)
        case('torch.compile, fp32, channels_last', im(compiled, xc))
    torch.set_num_threads(max_threads)
    base = [c for c in cases if c['setting'] == 'fp32, NCHW, inference_mode'][-1]['ms']['p50']
    print(f'{os.path.basename(args.model)} at {info.input_size[0]}x{info.input_size[1]}, '
          f'torch {torch.__version__}, {args.runs} runs; agreement = share of pixels whose '
          'class equals fp32 NCHW')
    print(f"{'setting':<40}{'threads':>8}{'p50 ms':>9}{'p95 ms':>9}{'vs fp32 NCHW':>14}"
          f"{'agreement':>11}")
    for c in cases:
        print(f"{c['setting']:<40}{c['threads']:>8}{c['ms']['p50']:>9.1f}{c['ms']['p95']:>9.1f}"
              f"{base / c['ms']['p50']:>13.2f}x{100 * c['mask_agreement']:>10.2f}%")
    save_json(args.json, cases)
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
