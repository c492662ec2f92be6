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
Node overhead and the usual-way comparison, over real DDS with the node in another process.

Part 1 (overhead): frames go one at a time (the next after every output of the last came
back), so nothing queues. The bare model forward is timed in this process on the same
frames, in blocks alternating with the node's and with those of benchmarks/echo_node.py (the
node's topics and messages without a model: the transport floor; see overhead()). Reports
end-to-end (publish -> class mask received, and -> all four outputs received) against the
forward, the node's own view from /diagnostics, and where the rest goes per frame (measured
here with the node's own functions).

Part 2 (usual way): segnet_node and a plain rclpy node that infers inside its subscription
callback with a reliable depth-10 queue (benchmarks/naive_node.py) are each fed 30 Hz for the
same duration; latency p50/p95/max and frames processed.

    .venv/bin/python benchmarks/bench_node.py --frames 40 --duration 20 --json out/bench_node.json
"""

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image as PILImage
from segnet_ros import conversions
from segnet_ros.bags.bagio import read_frames as load_frames
from segnet_ros.camera import parse_frame_size
from segnet_ros.dds import confine_to_localhost
from segnet_ros.dds import use_large_image_transport
from segnet_ros.inference import Segmenter
from segnet_ros.paths import default_model_path
from segnet_ros.paths import share_path
from segnet_ros.stats import keep_large_buffers
from segnet_ros.stats import resident_mb
from segnet_ros.stats import save_json
from segnet_ros.stats import summarize
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
confine_to_localhost()

OUTPUTS = ('class_mask', 'color_mask', 'overlay', 'confidence')


def start(peer, name, params, entry=None):
    """Start a node process reading /<name>/in; return the NodeProcess."""
    from segnet_ros.ros.peer import NodeProcess
    return NodeProcess(params, name=name, image_topic=f'/{name}/in', entry=entry,
                       log_dir=os.environ.get('BENCH_NODE_LOG_DIR'),
                       quiet=not os.environ.get('BENCH_NODE_LOG_DIR'))


def stamp_key(msg):
    """Return (sec, nanosec) of a message's stamp."""
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def received(peer, topic, msg):
    """Return the receive time of the output of ``msg`` on ``topic``, or None."""
    hit = peer.first(topic, (msg.header.stamp.sec, msg.header.stamp.nanosec))
    return hit[0] if hit else None


def msg_for(rgb, i):
    """Return an rgb8 Image stamped with frame index ``i``."""
    from sensor_msgs.msg import Image
    m = conversions.numpy_to_imgmsg(rgb, 'rgb8', Image)
    m.header.stamp.sec, m.header.stamp.nanosec = 1000 + i, i
    m.header.frame_id = 'camera'
    return m


def forward(seg, x):
    """Run the bare forward pass with the backend and output dtype the node uses."""
    return seg._forward(x)


def breakdown(seg, rgb, runs):
    """Per-stage time (ms, median) of what the node does to one frame, in this process."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    msg = msg_for(rgb, 0)
    stages = {k: [] for k in ('convert', 'resize+normalise', 'forward', 'class mask',
                              'build+serialise class_mask', 'colour+overlay+confidence',
                              'build+serialise the rest')}
    encodings = {'mask': 'mono8', 'color': 'rgb8', 'overlay': 'rgb8', 'confidence': '32FC1'}
    size = rgb.shape[:2]
    for _ in range(runs):
        t = time.perf_counter()
        arr = conversions.to_rgb8(msg)
        stages['convert'].append(time.perf_counter() - t)
        with torch.inference_mode():
            t = time.perf_counter()
            src, x = seg._prepare(arr)
            stages['resize+normalise'].append(time.perf_counter() - t)
            t = time.perf_counter()
            scores = forward(seg, x)
            stages['forward'].append(time.perf_counter() - t)
            got = {}
            if seg._cv2 is None:  # the torch output path (CUDA, or no OpenCV)
                t = time.perf_counter()
                got = seg.segment(arr, tuple(encodings)).__dict__
                stages['class mask'].append(time.perf_counter() - t)
                stages['colour+overlay+confidence'].append(0.0)
            else:
                t = time.perf_counter()
                seg._finish_cv2(scores.clone(), None, arr, {'mask'}, 0.5, size,
                                got.__setitem__)
                stages['class mask'].append(time.perf_counter() - t)
                t = time.perf_counter()
                seg._finish_cv2(scores, None, arr, {'color', 'overlay', 'confidence'}, 0.5,
                                size, got.__setitem__)
                stages['colour+overlay+confidence'].append(time.perf_counter() - t)
        t = time.perf_counter()
        serialize_message(conversions.numpy_to_imgmsg(got['mask'], 'mono8', Image,
                                                      header=msg.header))
        stages['build+serialise class_mask'].append(time.perf_counter() - t)
        t = time.perf_counter()
        for k in ('color', 'overlay', 'confidence'):
            serialize_message(conversions.numpy_to_imgmsg(got[k], encodings[k], Image,
                                                          header=msg.header))
        stages['build+serialise the rest'].append(time.perf_counter() - t)
    return {k: 1000 * float(np.median(v)) for k, v in stages.items()}


def lockstep(h, pub, topics, msg, timeout):
    """Publish ``msg``; return (class mask, last output) receive times after the publish, in s."""
    t0 = time.monotonic()
    pub.publish(msg)
    if not h.wait_for(lambda: all(received(h, t, msg) for t in topics), timeout=timeout):
        return None
    t_all = max(received(h, t, msg) for t in topics)
    t_mask = received(h, topics[0], msg)
    with h.cond:  # held outputs (20 MB a frame at 1080p) would pile up here
        for t in topics:
            h.received[t].clear()
    return t_mask - t0, t_all - t0


def overhead(h, frames, n, model, pause=0.0, block=5, node_params=None, name='bench_segnet'):
    """Part 1: lockstep end-to-end vs bare forward (and the transport floor) on the same frames."""
    from sensor_msgs.msg import Image
    node_params = dict(node_params or {})
    seg = Segmenter(model, device='cpu', precision=node_params.get('precision', 'auto'),
                    backend=node_params.get('backend', 'auto'))
    seg.warmup(2)
    proc = start(h, name, {'model_path': model, 'device': 'cpu', **node_params})
    echo = start(h, f'{name}_echo', {}, [os.path.join(ROOT, 'benchmarks', 'echo_node.py')])
    # (label, process, publisher, output topics) for the node and the echo
    routes = [(label, p, h.publisher(Image, f'/{p.name}/in', depth=10),
               [p.topic(o) for o in OUTPUTS]) for label, p in (('node', proc), ('echo', echo))]
    for *_, topics in routes:
        for t in topics:
            h.record(t, depth=10)
    h.record_diagnostics()
    try:
        for _, p, pub, topics in routes:
            h.wait_connected(pub, p, topics)
        # Blocks of frames: the bare forward on the next few frames, back to back, then the
        # same frames through the node one at a time, then through the echo node (no model:
        # transport, executors and messages only). Alternating keeps all three under the
        # same machine load (this VM's speed drifts by 20% over minutes); the pause after
        # the forward block lets this process's OpenMP threads, which spin for a while
        # after each parallel region, go idle before the node runs (a camera driver does
        # not keep two cores spinning).
        fwd = []
        got = {label: ([], []) for label, *_ in routes}  # (class mask, all four) in ms
        order = list(range(-block, n))  # one warm-up block
        for b0 in range(0, len(order), block):
            chunk = order[b0:b0 + block]
            for i in chunk:
                with torch.inference_mode():
                    _, x = seg._prepare(frames[i % len(frames)])
                    t = time.perf_counter()
                    forward(seg, x)
                    if i >= 0:
                        fwd.append((time.perf_counter() - t) * 1000)
            time.sleep(0.05)
            for label, _, pub, topics in routes:
                for i in chunk:
                    t = lockstep(h, pub, topics, msg_for(frames[i % len(frames)], i + block),
                                 timeout=30 if i >= 0 else 5)
                    if t is None:
                        if i < 0:
                            continue  # a warm-up frame lost while the node's reader switched
                        raise RuntimeError(f'frame {i} got no output from the {label}')
                    if i >= 0:
                        got[label][0].append(t[0] * 1000)
                        got[label][1].append(t[1] * 1000)
                    time.sleep(pause)
        # A diagnostics message that covers every frame.
        h.wait_for(lambda: int((h.latest_diagnostics(name) or {}).get(
            'frames_processed', 0)) >= len(order), timeout=10)
        diag = h.latest_diagnostics(name) or {}
        stages = breakdown(seg, frames[0], max(5, n // 4))
    finally:
        proc.stop()
        echo.stop()
    (mask_only, e2e), (echo_mask, echo_all) = got['node'], got['echo']
    f50 = float(np.median(fwd))
    return {'forward_ms': summarize(fwd), 'end_to_end_ms': summarize(e2e),
            'first_output_ms': summarize(mask_only),
            'echo_first_output_ms': summarize(echo_mask),
            'echo_end_to_end_ms': summarize(echo_all),
            'ratio_p50': float(np.median(mask_only)) / f50,
            'ratio_all_p50': float(np.median(e2e)) / f50,
            # The best ratio a node could reach here: the forward plus the transport floor.
            'floor_ratio_p50': (f50 + float(np.median(echo_mask))) / f50,
            'floor_ratio_all_p50': (f50 + float(np.median(echo_all))) / f50,
            'stages_ms': stages,
            'node_inference_ms_p50': float(diag.get('inference_ms_p50', 'nan')),
            'node_latency_ms_p50': float(diag.get('latency_ms_p50', 'nan')),
            'input_size': list(seg.input_size), 'backend': seg.backend,
            'precision': seg.dtype_name, 'node_params': node_params,
            'upsample': seg.upsample, 'pause_s': pause, 'block': block}


def usual_way(h, frames, duration, model, rate=30.0, device='cpu'):
    """Part 2: ours vs inference in the callback with a reliable depth-10 queue."""
    from sensor_msgs.msg import Image
    results = {}
    for label, entry in (('segnet_node (newest frame only)', None),
                         ('callback inference, reliable depth 10',
                          [os.path.join(ROOT, 'benchmarks', 'naive_node.py')])):
        name = 'bench_' + ('ours' if 'segnet_node' in label else 'naive')
        proc = start(h, name, {'model_path': model, 'device': device}, entry)
        pub = h.publisher(Image, f'/{name}/in', depth=10)
        mask = proc.topic('class_mask')
        h.record(mask, depth=10)
        try:
            h.wait_connected(pub, proc, [mask])
            rss_start = resident_mb(proc.pid)
            sent = {}
            t_end = time.monotonic() + duration
            i = 0
            while time.monotonic() < t_end:
                msg = msg_for(frames[i % len(frames)], 10_000 + i)
                sent[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = time.monotonic()
                pub.publish(msg)
                i += 1
                time.sleep(max(0.0, 1 / rate - 0.001))
            time.sleep(3.0)  # what was processed within 3 s after the camera stopped counts
            with h.cond:
                got = {stamp_key(m): t for t, m in h.received[mask]}
            lat = [(got[k] - t) * 1000 for k, t in sent.items() if k in got]
            results[label] = {'sent': len(sent), 'processed': len(lat),
                              'latency_ms': summarize(lat), 'rss_mb_start': rss_start,
                              'rss_mb_end': resident_mb(proc.pid)}
        finally:
            proc.stop()
    return results


def scaled(frames, size):
    """Return the sample frames resized to a camera's (width, height), as a driver sends."""
    if size == (frames[0].shape[1], frames[0].shape[0]):
        return frames
    return [np.asarray(PILImage.fromarray(f).resize(size, PILImage.BILINEAR)) for f in frames]


def sizes_table(frames, args, node_params):
    """Part 1 at several frame sizes, ``args.runs`` times, sizes alternating; print ratios."""
    from segnet_ros.ros.peer import Peer
    h = Peer(f'bench_{os.getpid()}')
    results = {f'{w}x{ht}': [] for w, ht in args.sizes}
    try:
        for run in range(args.runs):
            for size in args.sizes:
                o = overhead(h, scaled(frames, size), args.frames, args.model, args.pause,
                             node_params=node_params, name=f'bench_segnet_{run}_{size[0]}')
                results[f'{size[0]}x{size[1]}'].append(o)
    finally:
        h.close()
    ref = next(iter(results))
    first = results[ref][0]
    print(f'Part 1 at {len(results)} frame sizes, {args.runs} run(s), sizes alternating; '
          f'{args.frames} frames one at a time, all four outputs subscribed; CPU '
          f"({torch.get_num_threads()} threads), {first['precision']}, backend "
          f"{first['backend']}; network input {first['input_size'][0]}x"
          f"{first['input_size'][1]}; node parameters {node_params or 'defaults'}; camera "
          + ('stock DDS' if args.stock_camera else 'with our DDS profile'))
    print(f"{'frame':<11}{'forward':>9}{'mask':>8}{'all four':>10}{'echo m':>8}{'echo a':>8}"
          f"{'mask/fwd':>10}{'all/fwd':>9}{'floor m':>9}{'floor a':>9}{'mask/ref':>10}"
          f"{'all/ref':>9}   (p50 ms; ratios: median of runs)")
    med = {}
    for key, runs in results.items():
        m = {k: float(np.median([r[src]['p50'] for r in runs])) for k, src in (
            ('forward', 'forward_ms'), ('mask', 'first_output_ms'), ('all', 'end_to_end_ms'),
            ('echo mask', 'echo_first_output_ms'), ('echo all', 'echo_end_to_end_ms'))}
        for k, src in (('mask/fwd', 'ratio_p50'), ('all/fwd', 'ratio_all_p50'),
                       ('floor mask/fwd', 'floor_ratio_p50'),
                       ('floor all/fwd', 'floor_ratio_all_p50')):
            m[k] = float(np.median([r[src] for r in runs]))
        # Size ratios per run (same run, side by side), then the median over runs.
        m['mask/ref'] = float(np.median([r['first_output_ms']['p50'] / q['first_output_ms']['p50']
                                         for r, q in zip(runs, results[ref])]))
        m['all/ref'] = float(np.median([r['end_to_end_ms']['p50'] / q['end_to_end_ms']['p50']
                                        for r, q in zip(runs, results[ref])]))
        med[key] = m
        print(f"{key:<11}{m['forward']:>9.1f}{m['mask']:>8.1f}{m['all']:>10.1f}"
              f"{m['echo mask']:>8.1f}{m['echo all']:>8.1f}"
              f"{m['mask/fwd']:>10.2f}{m['all/fwd']:>9.2f}{m['floor mask/fwd']:>9.2f}"
              f"{m['floor all/fwd']:>9.2f}{m['mask/ref']:>10.2f}{m['all/ref']:>9.2f}")
    print('echo m / echo a: the same frames through benchmarks/echo_node.py (no model: '
          'transport, executors, messages) to the class mask / all four; floor m / floor a: '
          '(forward + echo) / forward, the least a node could reach here')
    save_json(args.json, {'sizes': results, 'medians': med, 'node_params': node_params,
                          'stock_camera': args.stock_camera, 'runs': args.runs})
    return 0


def main(argv=None):
    """Run both parts and print tables."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default=default_model_path())
    p.add_argument('--frames', type=int, default=40, help='frames for part 1')
    p.add_argument('--duration', type=float, default=20.0, help='seconds at 30 Hz, part 2')
    p.add_argument('--pause', type=float, default=0.0,
                   help="part 1: seconds between a frame's last output and the next frame")
    p.add_argument('--skip-usual', action='store_true', help='only part 1')
    p.add_argument('--size', type=parse_frame_size, default=None, metavar='WxH',
                   help='camera frame size, e.g. 1280x720 or 1920x1080 (default: the sample '
                   "bag's 480x360)")
    p.add_argument('--sizes', type=lambda t: [parse_frame_size(v) for v in t.split(',')],
                   metavar='WxH,WxH,...', help='part 1 only: several frame sizes in one run, '
                   'the first is the reference of the size ratios (e.g. '
                   '480x360,1280x720,1920x1080)')
    p.add_argument('--runs', type=int, default=1,
                   help='with --sizes: repeat part 1 this many times, sizes alternating; '
                   'ratios are the median over runs')
    p.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                   help='a node parameter, e.g. backend=onnxruntime or precision=fp32 (the '
                   'bare forward uses the same precision and backend)')
    p.add_argument('--stock-camera', action='store_true',
                   help='this process (the camera) loads no DDS profile, as a driver does; '
                   'the node still loads ours')
    p.add_argument('--json')
    args = p.parse_args(argv)
    node_params = {}
    for item in args.param:
        k, sep, v = item.partition('=')
        if not sep:
            p.error(f"--param '{item}' is not NAME=VALUE")
        node_params[k] = v
    frames = load_frames(share_path('data', 'camvid_val_sample'), '/camera/image_raw')
    if not args.stock_camera:
        use_large_image_transport()
    # As the node does for itself: the camera side reuses its multi-MB message buffers (a C++
    # driver keeps its own); otherwise page faults in this process's publish() count as
    # node latency.
    keep_large_buffers()
    if args.sizes:
        return sizes_table(frames, args, node_params)
    if args.size:  # a camera's resolution: the sample frames scaled up, as a driver sends
        frames = scaled(frames, args.size)
    from segnet_ros.ros.peer import Peer
    h = Peer(f'bench_{os.getpid()}')
    try:
        o = overhead(h, frames, args.frames, args.model, args.pause, node_params=node_params)
        o['frame_size'] = [frames[0].shape[1], frames[0].shape[0]]  # width, height
        print(f'Part 1: node overhead, {frames[0].shape[1]}x{frames[0].shape[0]} rgb8 frames, '
              f'all four outputs subscribed, {args.frames} frames one at a time, '
              f'CPU ({torch.get_num_threads()} threads), '
              f"backend {o['backend']}, upsample {o['upsample']}; network input "
              f"{o['input_size'][0]}x{o['input_size'][1]}")
        print(f"{'':<36}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
        for k, label in (('forward_ms', 'bare model forward'),
                         ('first_output_ms', 'end to end, class_mask'),
                         ('end_to_end_ms', 'end to end, all four outputs'),
                         ('echo_first_output_ms', 'echo node (no model), class_mask'),
                         ('echo_end_to_end_ms', 'echo node (no model), all four')):
            s = o[k]
            print(f"{label:<36}{s['p50']:>9.1f}{s['p95']:>9.1f}{s['mean']:>9.1f}")
        print(f"end-to-end / forward (p50): class_mask {o['ratio_p50']:.3f}, "
              f"all four {o['ratio_all_p50']:.3f}; the floor, (forward + echo) / forward: "
              f"{o['floor_ratio_p50']:.3f}, {o['floor_ratio_all_p50']:.3f}")
        print(f"inside the node (its /diagnostics): forward {o['node_inference_ms_p50']:.1f} ms, "
              f"receive -> last output published {o['node_latency_ms_p50']:.1f} ms")
        print("where one frame goes, measured in this process with the node's functions, "
              'in the order the node runs them:')
        for k, v in o['stages_ms'].items():
            print(f'  {k:<30}{v:>8.2f} ms')
        out = {'overhead': o}
        if not args.skip_usual:
            u = usual_way(h, frames, args.duration, args.model)
            print(f'\nPart 2: fed 30 Hz for {args.duration:.0f} s each')
            print(f"{'node':<40}{'sent':>6}{'processed':>11}{'p50 ms':>9}{'p95 ms':>9}"
                  f"{'max ms':>9}{'RSS MiB start/end':>19}")
            for label, r in u.items():
                s = r['latency_ms']
                print(f"{label:<40}{r['sent']:>6}{r['processed']:>11}{s['p50']:>9.1f}"
                      f"{s['p95']:>9.1f}{s['max']:>9.1f}"
                      f"{r['rss_mb_start']:>11.0f} / {r['rss_mb_end']:.0f}")
            out['usual_way'] = u
    finally:
        h.close()
    save_json(args.json, out)
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
