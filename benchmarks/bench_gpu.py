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

Forward time (p50 of ``--runs`` after warm-up, CUDA events) at 360x480, batch 1, of full
SegNet (paper size) and the bundled model in fp32 and fp16: eager, replayed as a CUDA
graph, and under torch.compile (in a child process with a time budget, fp16 only); peak
GPU memory of inference; the Segmenter's GPU stages at 1080p (upload, resize + normalise,
argmax + nearest resize, colours + overlay, confidence, the one copy back); the Segmenter
end to end at 360x480 and 1080p; and, where rclpy is importable, the node over DDS at
rising camera rates, 480x360 and 1080p, up to the fastest it keeps up with. On a machine
without CUDA it says so and exits 0.

    .venv/bin/python benchmarks/bench_gpu.py --json out/bench_gpu.json --md out/bench_gpu.md
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from segnet_ros import modelfile
from segnet_ros.inference import _to_host
from segnet_ros.inference import Segmenter
from segnet_ros.nets import build_model
from segnet_ros.paths import default_model_path
from segnet_ros.paths import share_path
from segnet_ros.stats import save_json
from segnet_ros.stats import summarize
from segnet_ros.visualize import colorize
from segnet_ros.visualize import overlay as blend
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = ('mask', 'color', 'overlay', 'confidence')
# Camera rates tried per resolution, lowest first; the ladder stops at the first missed one.
RATES = {'480x360': (60, 120, 240, 480), '1920x1080': (30, 60, 120, 240)}
KEEP_UP = 0.95  # share of the frames sent that must come back as class masks


def cuda_ms(fn, runs, warmup=10):
    """Summary (ms) of ``fn`` measured with CUDA events, after ``warmup`` calls."""
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
    """Eager and CUDA-graph forward time and peak memory for each model and precision."""
    rows = []
    for label, path in paths.items():
        for dtype in (torch.float32, torch.float16):
            model, info = modelfile.load_model_file(path, 'cuda')
            model = model.to(dtype)
            x = torch.randn(1, 3, *info.input_size, device='cuda', dtype=dtype)
            torch.cuda.synchronize()
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
                    graph = {'p50': float('nan'), 'error': str(e)[:200]}
            rows.append({'model': label, 'dtype': str(dtype).replace('torch.', ''),
                         'input': info.input_size, 'weights_mb': base / 2 ** 20,
                         'eager_ms': eager, 'cuda_graph_ms': graph,
                         'peak_activations_mb': peak,
                         'reserved_mb': torch.cuda.max_memory_reserved() / 2 ** 20})
            model = x = None  # free before the next model
    return rows


def compile_child(specs, runs, out_path):
    """In a child process: torch.compile each ``label=path`` model (fp16), one JSON line each."""
    torch.backends.cudnn.benchmark = True
    for spec in specs:
        label, path = spec.split('=', 1)
        model, info = modelfile.load_model_file(path, 'cuda')
        model = model.half()
        x = torch.randn(1, 3, *info.input_size, device='cuda', dtype=torch.float16)
        fn = torch.compile(model)
        t = time.perf_counter()
        with torch.inference_mode():
            fn(x)
            torch.cuda.synchronize()
            compile_s = time.perf_counter() - t
            res = cuda_ms(lambda: fn(x), runs)
        with open(out_path, 'a') as f:
            f.write(json.dumps({'model': label, 'dtype': 'float16', 'compile_s': compile_s,
                                'compiled_ms': res}) + '\n')


def compiled_rows(paths, runs, budget_s):
    """Run compile_child with a wall-clock budget; return what finished within it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'compiled.jsonl')
        cmd = [sys.executable, os.path.abspath(__file__), '--runs', str(runs),
               '--compile-child', out, *[f'{k}={v}' for k, v in paths.items()]]
        note = 'finished'
        # Its own session, so that on timeout the compile workers it forked go too.
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=budget_s)
            if proc.returncode:
                last = err.strip().splitlines()[-1][:200] if err.strip() else ''
                note = f'failed (exit {proc.returncode}): {last}'
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            note = f'stopped at the {budget_s:.0f} s budget'
        rows = []
        if os.path.isfile(out):
            with open(out) as f:
                rows = [json.loads(line) for line in f if line.strip()]
    return rows, note


def stage_table(seg, rgb, runs):
    """GPU time (CUDA events) of each Segmenter stage on one frame."""
    h, w = rgb.shape[:2]
    stages = {}
    with torch.inference_mode():
        stages['upload rgb8'] = cuda_ms(
            lambda: torch.from_numpy(rgb).to('cuda', non_blocking=True), runs)
        stages['upload + resize + normalise'] = cuda_ms(lambda: seg._prepare(rgb), runs)
        src, x = seg._prepare(rgb)
        stages['forward'] = cuda_ms(lambda: seg.model(x).float(), runs)
        scores = seg.model(x).float()

        def mask_full():
            mask = scores[0].max(0)[1].to(torch.uint8)
            return F.interpolate(mask[None, None], size=(h, w), mode='nearest')[0, 0]
        stages['argmax + nearest resize'] = cuda_ms(mask_full, runs)
        mask = mask_full()

        def colours():
            color = colorize(mask, seg._lut)
            return color, blend(src, color, 0.5)
        stages['colours + overlay'] = cuda_ms(colours, runs)
        color, over = colours()

        def confidence():
            top = scores[0].max(0)[0]
            return seg._full((scores[0] - top).exp_().sum(0).reciprocal_(), h, w)
        stages['confidence (bilinear resize)'] = cuda_ms(confidence, runs)
        conf = confidence()
        stages['pack + one copy to host'] = cuda_ms(lambda: _to_host(
            {'mask': mask, 'color': color, 'overlay': over, 'confidence': conf},
            packed=True), runs)
    return {k: v['p50'] for k, v in stages.items()}


def segment_table(seg, frames, runs):
    """Segmenter.segment end to end (upload to arrays on the host), per size and outputs."""
    rows = []
    for size, rgb in frames.items():
        for outputs in (('mask',), OUTPUTS):
            seg.warmup(1)
            for _ in range(10):
                seg.segment(rgb, outputs)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            total, infer = [], []
            for _ in range(runs):
                r = seg.segment(rgb, outputs)
                total.append(1000 * r.total_s)
                infer.append(1000 * r.infer_s)
            rows.append({'size': size, 'outputs': '+'.join(outputs),
                         'total_ms': summarize(total), 'forward_ms': summarize(infer),
                         'peak_mb': (torch.cuda.max_memory_allocated() - base) / 2 ** 20})
    return rows


def node_ladder(frames, model, seconds):
    """Feed the node over DDS on CUDA rising rates per size; return latency and counts."""
    try:
        from segnet_ros import conversions
        from segnet_ros.dds import use_large_image_transport
        from segnet_ros.ros.peer import NodeProcess
        from segnet_ros.ros.peer import Peer
        from segnet_ros.ros.peer import stamp_key
        from sensor_msgs.msg import Image
    except ImportError as e:
        return {'skipped': f'rclpy / ROS 2 messages not importable ({e})'}
    use_large_image_transport()
    h = Peer()
    t0 = time.monotonic()
    proc = NodeProcess({'model_path': model, 'device': 'cuda'}, quiet=True)
    pub = h.publisher(Image, proc.image_topic, depth=10)
    mask = proc.topic('class_mask')
    h.record(mask, depth=10)
    result, stamp = {'rates': []}, [0]
    try:
        h.wait_connected(pub, proc, [mask], timeout=120)
        result['node_start_s'] = time.monotonic() - t0
        for size, imgs in frames.items():
            msgs = [conversions.numpy_to_imgmsg(f, 'rgb8', Image) for f in imgs]

            def feed(rate, duration):
                sent = {}
                period, t_next = 1.0 / rate, time.monotonic()
                t_end = t_next + duration
                while time.monotonic() < t_end:
                    stamp[0] += 1
                    m = msgs[stamp[0] % len(msgs)]
                    m.header.stamp.sec, m.header.stamp.nanosec = stamp[0], 0
                    sent[(stamp[0], 0)] = time.monotonic()
                    pub.publish(m)
                    t_next += period
                    delay = t_next - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    else:  # the publisher is behind: no catch-up burst
                        t_next = time.monotonic()
                time.sleep(1.0)  # what comes back within 1 s after the camera stops counts
                with h.cond:
                    got = {stamp_key(m): t for t, m in h.received[mask]}
                lat = [(got[k] - t) * 1000 for k, t in sent.items() if k in got]
                return len(sent), lat

            feed(10, 1.0)  # warm-up at this size (cuDNN, allocator, DDS buffers)
            fastest = None
            for rate in RATES[size]:
                n, lat = feed(rate, seconds)
                kept = len(lat) >= KEEP_UP * n
                limited = n < 0.9 * rate * seconds  # this process could not publish faster
                result['rates'].append({'size': size, 'rate_hz': rate, 'sent': n,
                                        'sent_hz': n / seconds, 'publisher_limited': limited,
                                        'processed': len(lat), 'kept_up': kept,
                                        'latency_ms': summarize(lat)})
                if not kept or limited:
                    break
                fastest = rate
            result[f'fastest_kept_hz_{size}'] = fastest
    finally:
        proc.stop()
        h.close()
    return result


def markdown(report):
    """Return the report as Markdown tables."""
    if not report['cuda']:
        return f"No CUDA device present (torch {report['torch']}); nothing measured.\n"
    lines = [f"### GPU: {report['device']}", '',
             f"torch {report['torch']}, CUDA {report['cuda_version']}, cuDNN "
             f"{report['cudnn']}; p50 of {report['runs']} runs after warm-up, batch 1.", '',
             '| model | dtype | input | eager ms | CUDA graph ms | torch.compile ms '
             '| weights MiB | peak activations MiB |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |']
    compiled = {(r['model'], r['dtype']): r for r in report['compiled']}
    for r in report['forward']:
        c = compiled.get((r['model'], r['dtype']))
        comp = f"{c['compiled_ms']['p50']:.2f} (compile {c['compile_s']:.0f} s)" if c else '-'
        lines.append(f"| {r['model']} | {r['dtype']} | {'x'.join(map(str, r['input']))} "
                     f"| {r['eager_ms']['p50']:.2f} | {r['cuda_graph_ms']['p50']:.2f} "
                     f"| {comp} | {r['weights_mb']:.0f} | {r['peak_activations_mb']:.0f} |")
    lines += ['', f"torch.compile: {report['compile_note']}.", '',
              f"Segmenter stages on a {report['stages_size']} frame, bundled model, fp16 "
              '(GPU time, CUDA events):', '', '| stage | ms |', '| --- | ---: |']
    lines += [f'| {k} | {v:.3f} |' for k, v in report['stages_ms'].items()]
    lines += ['', 'Segmenter.segment end to end (bundled model, fp16, upload to arrays on '
              'the host):', '', '| frame | outputs | p50 ms | p95 ms | forward p50 ms '
              '| peak MiB |', '| --- | --- | ---: | ---: | ---: | ---: |']
    for r in report['segment']:
        lines.append(f"| {r['size']} | {r['outputs']} | {r['total_ms']['p50']:.2f} | "
                     f"{r['total_ms']['p95']:.2f} | {r['forward_ms']['p50']:.2f} | "
                     f"{r['peak_mb']:.0f} |")
    node = report['node']
    lines += ['', 'segnet_node over DDS on CUDA (bundled model, fp16), class_mask subscribed, '
              'rgb8 frames at each rate for '
              f"{report['node_seconds']:.0f} s; latency publish -> class_mask received:", '']
    if 'skipped' in node:
        lines.append(f"Left out: {node['skipped']}.")
    else:
        lines += ['| frame | rate Hz | sent (Hz) | processed | kept up | p50 ms | p95 ms '
                  '| max ms |', '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |']
        for r in node['rates']:
            s = r['latency_ms']
            note = ', publisher limit' if r['publisher_limited'] else ''
            sent = f"{r['sent']} ({r['sent_hz']:.0f}{note})"
            lines.append(f"| {r['size']} | {r['rate_hz']} | {sent} | {r['processed']} | "
                         f"{'yes' if r['kept_up'] else 'no'} | {s['p50']:.1f} | "
                         f"{s['p95']:.1f} | {s['max']:.1f} |")
        lines += ['', f"Node start-up {node.get('node_start_s', float('nan')):.1f} s. "
                  'Fastest rate kept up with (>= 95% of frames back): ' + ', '.join(
                      f"{size} {node.get(f'fastest_kept_hz_{size}')} Hz" for size in RATES)
                  + '.']
    return '\n'.join(lines) + '\n'


def sample_frames():
    """Return the sample bag's 360x480 frames (random frames where rosbags is missing)."""
    try:
        from segnet_ros.bags.bagio import read_frames as load_frames
        return load_frames(share_path('data', 'camvid_val_sample'), '/camera/image_raw')
    except ImportError:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (360, 480, 3), dtype=np.uint8) for _ in range(4)]


def full_hd(rgb):
    """Return ``rgb`` resized to 1920x1080 (bilinear)."""
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(1080, 1920), mode='bilinear', align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def main(argv=None):
    """Run everything that needs a GPU."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=200)
    p.add_argument('--compile-budget', type=float, default=45.0,
                   help='seconds for torch.compile of both models (0: leave it out)')
    p.add_argument('--node-seconds', type=float, default=2.0, help='seconds per camera rate')
    p.add_argument('--skip-node', action='store_true')
    p.add_argument('--json')
    p.add_argument('--md', help='write the tables as Markdown here')
    p.add_argument('--compile-child', nargs='+', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.compile_child:
        compile_child(args.compile_child[1:], args.runs, args.compile_child[0])
        return 0
    report = {'cuda': torch.cuda.is_available(), 'torch': torch.__version__}
    if not torch.cuda.is_available():
        print(f'no CUDA device present (torch {torch.__version__}); nothing to measure')
    else:
        torch.backends.cudnn.benchmark = True
        report.update(device=torch.cuda.get_device_name(), cuda_version=torch.version.cuda,
                      cudnn=torch.backends.cudnn.version(), runs=args.runs,
                      node_seconds=args.node_seconds)
        print(f"{report['device']}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"cuDNN {report['cudnn']}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            full = os.path.join(tmp, 'segnet.safetensors')
            torch.manual_seed(0)
            modelfile.save_model_file(full, build_model('segnet', 11), modelfile.default_info(
                'segnet', 11, input_size=[360, 480]))
            paths = {'SegNet (paper)': full, 'bundled': default_model_path()}
            report['forward'] = forward_table(paths, args.runs)
            print(f"{'model':<16}{'dtype':>9}{'eager ms':>10}{'graph ms':>10}"
                  f"{'weights MiB':>13}{'peak act. MiB':>15}")
            for r in report['forward']:
                print(f"{r['model']:<16}{r['dtype']:>9}{r['eager_ms']['p50']:>10.2f}"
                      f"{r['cuda_graph_ms']['p50']:>10.2f}{r['weights_mb']:>13.0f}"
                      f"{r['peak_activations_mb']:>15.0f}", flush=True)
            report['compiled'], report['compile_note'] = ([], 'left out (budget 0)')
            if args.compile_budget > 0:
                report['compiled'], report['compile_note'] = compiled_rows(
                    paths, args.runs, args.compile_budget)
            print(f"torch.compile ({report['compile_note']}): " + ', '.join(
                f"{r['model']} {r['compiled_ms']['p50']:.2f} ms (compile {r['compile_s']:.0f} s)"
                for r in report['compiled']), flush=True)
        frames = sample_frames()
        hd = full_hd(frames[0])
        seg = Segmenter(default_model_path(), device='cuda')
        seg.warmup(5)
        report['stages_size'] = '1920x1080'
        report['stages_ms'] = stage_table(seg, hd, args.runs)
        for k, v in report['stages_ms'].items():
            print(f'  {k:<32}{v:>8.3f} ms')
        report['segment'] = segment_table(seg, {'480x360': frames[0], '1920x1080': hd},
                                          args.runs)
        seg.close()
        for r in report['segment']:
            print(f"Segmenter {r['size']} {r['outputs']}: {r['total_ms']['p50']:.2f} ms p50, "
                  f"forward {r['forward_ms']['p50']:.2f} ms", flush=True)
        if args.skip_node:
            report['node'] = {'skipped': '--skip-node'}
        else:
            try:
                report['node'] = node_ladder({'480x360': frames[:4],
                                              '1920x1080': [full_hd(f) for f in frames[:4]]},
                                             default_model_path(), args.node_seconds)
            except Exception as e:  # noqa: B902 - keep the numbers measured so far
                report['node'] = {'skipped': f'the node run failed: {type(e).__name__}: {e}'}
        for r in report['node'].get('rates', []):
            print(f"node {r['size']} at {r['rate_hz']} Hz (sent {r['sent_hz']:.0f} Hz): "
                  f"{r['processed']}/{r['sent']} back, p50 {r['latency_ms']['p50']:.1f} ms")
        if 'skipped' in report['node']:
            print(f"node over DDS left out: {report['node']['skipped']}")
    save_json(args.json, report)
    if args.md:
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, 'w') as f:
            f.write(markdown(report))
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
