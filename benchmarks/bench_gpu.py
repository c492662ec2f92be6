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
GPU benchmark, prepared as one short run for a lent CUDA machine.

Forward time at 360x480, batch 1, for full SegNet and the bundled model in fp32 and fp16,
eager and replayed as a CUDA graph; peak GPU memory at inference; the Segmenter's GPU
post-processing (argmax, colours, overlay, one copy back); and the node end to end on the
GPU (frames/s sustained and latency). On a machine without CUDA it says so and exits 0.

    .venv/bin/python benchmarks/bench_gpu.py --json out/bench_gpu.json
"""

import argparse
import os
import sys
import tempfile

import numpy as np
from segnet_ros import modelfile
from segnet_ros.inference import Segmenter
from segnet_ros.nets import build_model
from segnet_ros.paths import default_model_path
from segnet_ros.stats import save_json
from segnet_ros.stats import summarize
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cuda_ms(fn, runs, warmup=10):
    """Median ms of ``fn`` measured with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return summarize(ts)


def graphed(model, x):
    """Capture ``model(x)`` as a CUDA graph; return a replay function."""
    static_x = x.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            model(static_x)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        model(static_x)
    return g.replay


def forward_table(paths, runs):
    """Forward and memory for each model and precision."""
    rows = []
    for label, path in paths.items():
        for dtype in (torch.float32, torch.float16):
            model, info = modelfile.load_model_file(path, 'cuda')
            model = model.to(dtype)
            x = torch.randn(1, 3, *info.input_size, device='cuda', dtype=dtype)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            with torch.inference_mode():
                eager = cuda_ms(lambda: model(x), runs)
                peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
            with torch.no_grad():
                try:
                    graph = cuda_ms(graphed(model, x), runs)
                except RuntimeError as e:  # capture can fail on some drivers
                    graph = {'p50': float('nan'), 'error': str(e)}
            rows.append({'model': label, 'dtype': str(dtype).replace('torch.', ''),
                         'input': info.input_size, 'eager_ms': eager, 'cuda_graph_ms': graph,
                         'peak_mb': peak,
                         'reserved_mb': torch.cuda.max_memory_reserved() / 2 ** 20})
            model = x = None  # free before the next model
    return rows


def main(argv=None):
    """Run everything that needs a GPU."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=100)
    p.add_argument('--node-seconds', type=float, default=10.0)
    p.add_argument('--json')
    args = p.parse_args(argv)
    report = {'cuda': torch.cuda.is_available(), 'torch': torch.__version__}
    if not torch.cuda.is_available():
        print(f'no CUDA device present (torch {torch.__version__}); nothing to measure')
    else:
        torch.backends.cudnn.benchmark = True
        print(f'{torch.cuda.get_device_name()}, torch {torch.__version__}, '
              f'CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}')
        with tempfile.TemporaryDirectory() as tmp:
            full = os.path.join(tmp, 'segnet.safetensors')
            modelfile.save_model_file(full, build_model('segnet', 11), modelfile.default_info(
                'segnet', 11, input_size=[360, 480]))
            rows = forward_table({'segnet x1.0': full, 'bundled': default_model_path()},
                                 args.runs)
        print(f"{'model':<14}{'dtype':>9}{'input':>10}{'eager ms':>10}{'graph ms':>10}"
              f"{'peak MB':>9}")
        for r in rows:
            size = 'x'.join(map(str, r['input']))
            print(f"{r['model']:<14}{r['dtype']:>9}{size:>10}{r['eager_ms']['p50']:>10.2f}"
                  f"{r['cuda_graph_ms']['p50']:>10.2f}{r['peak_mb']:>9.1f}")
        report['forward'] = rows
        seg = Segmenter(default_model_path(), device='cuda')
        frame = np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8)
        seg.warmup(10)
        full_call = []
        for _ in range(args.runs):
            full_call.append(1000 * seg.segment(frame, ('mask', 'color', 'overlay',
                                                        'confidence')).total_s)
        report['segment_all_outputs_ms'] = summarize(full_call)
        print('Segmenter, all outputs, upload to arrays on the host: '
              f"{report['segment_all_outputs_ms']['p50']:.2f} ms p50")
        seg.close()
        from bench_node import Harness  # noqa: E402  (needs rclpy only here)
        from bench_node import usual_way
        from segnet_ros.paths import use_large_image_transport
        use_large_image_transport()
        h = Harness()
        try:
            frames = [frame]
            res = usual_way(h, frames, args.node_seconds, default_model_path(), rate=300.0,
                            device='cuda')
        finally:
            h.close()
        report['node_at_300hz'] = res
        for label, r in res.items():
            print(f"{label}: {r['processed']} of {r['sent']} frames in "
                  f"{args.node_seconds:.0f} s ({r['processed'] / args.node_seconds:.0f}/s), "
                  f"latency p50 {r['latency_ms']['p50']:.1f} ms")
    save_json(args.json, report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
