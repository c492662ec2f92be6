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
The node under hostile input, faults and churn (real DDS, the node in its own process).

The fuzz test sends the corpus of test/fuzz_corpus.py (the one test_fuzz_conversions.py
checks against the conversion functions) to a live raw-image node and a live compressed-image
node at once.
"""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from builtin_interfaces.msg import Time
import fuzz_corpus
from fuzz_corpus import HEADER
from fuzz_corpus import VALID
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from segnet_ros import conversions
from segnet_ros.inference import Segmenter
from segnet_ros.pipeline import REJECT_REASONS
from segnet_ros.ros.node import SegnetNode
from segnet_ros.ros.peer import Peer
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image
from std_msgs.msg import Header
import torch

pytestmark = pytest.mark.ros
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_BOUND_MB = 64  # resident memory growth allowed over the whole fuzz run (README)


def stamp_header(sec, nsec=0):
    return Header(stamp=Time(sec=sec, nanosec=nsec), frame_id='fuzz')


def rss_mb(pid):
    with open(f'/proc/{pid}/status') as f:
        return int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1)) / 1024


def counters(d):
    keys = ('frames_processed', 'frames_dropped', 'frames_rejected', 'inference_errors',
            'out_of_memory_errors', 'frames_without_subscribers')
    return {k: int(d[k]) for k in keys}


def test_fuzz_live_nodes_survive_count_and_log_every_rejection(driver, start, models):
    corpus = fuzz_corpus.corpus(2200, 1400, seed=7)
    per_node = {False: [c for c in corpus if not c.compressed],
                True: [c for c in corpus if c.compressed]}
    # The corpus test_fuzz_conversions.py checks: 2,307 hostile messages among 3,982.
    assert sum(c.expect != VALID for c in corpus) >= 2000
    assert all(len(v) >= 1500 for v in per_node.values())
    common = {'model_path': models['a'], 'input_reliability': 'reliable', 'input_depth': 100,
              'diagnostics_period': 0.2}
    nodes = {False: start(common), True: start({**common, 'use_compressed': True})}
    driver.record_diagnostics()
    pubs = {}
    for compressed, node in nodes.items():
        driver.record(node.topic('class_mask'))
        topic = node.image_topic + ('/compressed' if compressed else '')
        pubs[compressed] = driver.publisher(CompressedImage if compressed else Image, topic,
                                            depth=100)
    for compressed, node in nodes.items():
        driver.wait_connected(pubs[compressed], node, [node.topic('class_mask')])

    def masks(node):
        with driver.cond:
            return {m.header.stamp.sec for _, m in driver.received[node.topic('class_mask')]}

    def diag(node):
        return driver.latest_diagnostics(node.name) or {}

    rng = np.random.default_rng(0)
    valid = rng.integers(0, 256, (48, 64, 3), np.uint8)

    def valid_msg(compressed, sec):
        if compressed:
            return conversions.numpy_to_compressed(valid, 'png', CompressedImage,
                                                   header=stamp_header(sec))
        return conversions.numpy_to_imgmsg(valid, 'rgb8', Image, header=stamp_header(sec))

    # Handshake (reliable input: after it, nothing is lost) and warm-up before the baseline.
    for compressed, node in nodes.items():
        assert driver.publish_until(pubs[compressed], valid_msg(compressed, 1),
                                    lambda n=node: 1 in masks(n), timeout=30), node.output()
        for i in range(30):
            pubs[compressed].publish(valid_msg(compressed, 2))
            time.sleep(0.02)
    # The baseline once every warm-up frame is accounted for and the count has settled.
    baseline = {}
    for compressed, node in nodes.items():
        last = {}

        def settled(n=node, last=last):
            d = diag(n)
            if not d or int(d['frames_received']) != sum(counters(d).values()):
                return False
            v, now = int(d['frames_received']), time.monotonic()
            if last.get('v') != v:
                last.update(v=v, t=now)
                return False
            return now - last['t'] >= 0.7 and v  # unchanged over 3 diagnostics periods
        baseline[compressed] = driver.wait_for(settled, timeout=20)
        assert baseline[compressed], diag(node)
    rss0 = {c: rss_mb(n.proc.pid) for c, n in nodes.items()}

    # The corpus, in bursts smaller than the input queue, both nodes at once.
    sent = dict.fromkeys(nodes, 0)
    t0 = time.monotonic()
    for start_i in range(0, max(len(v) for v in per_node.values()), 50):
        for compressed, cases in per_node.items():
            for k, case in enumerate(cases[start_i:start_i + 50]):
                msg = case.build(Image, CompressedImage)
                msg.header = stamp_header(10_000 + start_i + k)
                pubs[compressed].publish(msg)
                sent[compressed] += 1
        for compressed, node in nodes.items():
            want = baseline[compressed] + sent[compressed] - 20
            assert driver.wait_for(lambda n=node, w=want: int(diag(n).get(
                'frames_received', 0)) >= w, timeout=20), (node.output()[-3000:], diag(node))
    elapsed = time.monotonic() - t0

    for compressed, node in nodes.items():
        cases = per_node[compressed]
        total = baseline[compressed] + len(cases)
        # Every message arrived and is accounted for once the worker is idle.
        d = driver.wait_for(lambda n=node, t=total: (
            int(diag(n).get('frames_received', 0)) == t == sum(counters(diag(n)).values())
            and diag(n)), timeout=30)
        assert d, (diag(node), total)
        assert node.proc.poll() is None, node.output()[-3000:]
        c = counters(d)
        assert c['inference_errors'] == 0 and c['out_of_memory_errors'] == 0, d
        by_reason = {r: int(d[f'frames_rejected_{r}']) for r in REJECT_REASONS}
        assert sum(by_reason.values()) == c['frames_rejected']
        # Header problems are caught before queueing: each one is counted, none is dropped.
        header = collections.Counter(x.expect for x in cases if x.stage == HEADER
                                     and x.expect != VALID)
        anywhere = collections.Counter(x.expect for x in cases if x.expect != VALID)
        for reason in REJECT_REASONS:
            assert header[reason] <= by_reason[reason] <= anywhere[reason] + (
                anywhere['any'] if reason == 'decode' else 0), (reason, by_reason, header)
        assert c['frames_processed'] > 20  # interleaved valid frames were segmented

        # The log: one line per reason per 5 s at most, each naming the reason.
        out = node.output()
        assert 'Traceback' not in out
        lines = [ln for ln in out.splitlines() if 'frame rejected (' in ln]
        per_reason = collections.Counter(re.search(r'frame rejected \((\w+)\)', ln).group(1)
                                         for ln in lines)
        for reason, n in by_reason.items():
            if n:
                assert per_reason[reason] >= 1, (reason, per_reason)
            assert per_reason[reason] <= elapsed / 5 + 3, (reason, per_reason, elapsed)
        assert len(lines) * 20 < c['frames_rejected'], (len(lines), c)

        # Memory: the 400 MB PNG bomb and 10^10-pixel claims allocated nothing.
        growth = rss_mb(node.proc.pid) - rss0[compressed]
        assert growth < MEMORY_BOUND_MB, growth

    # Still alive and still right: a valid frame gets the mask this process computes.
    expected = Segmenter(models['a'], device='cpu').segment(valid).mask
    for compressed, node in nodes.items():
        sec = 90_000 + int(compressed)
        assert driver.publish_until(pubs[compressed], valid_msg(compressed, sec),
                                    lambda n=node, s=sec: s in masks(n), timeout=20)
        with driver.cond:
            msg = [m for _, m in driver.received[node.topic('class_mask')]
                   if m.header.stamp.sec == sec][0]
        mask = conversions.imgmsg_to_numpy(msg)
        assert (mask == expected).mean() > 0.99


class _InProcess:
    """segnet_node in this process (to inject faults into its Segmenter), spun in a thread."""

    def __init__(self, model, name):
        if not rclpy.ok():
            rclpy.init()
        self.node = SegnetNode(name, parameter_overrides=[
            Parameter('model_path', value=model), Parameter('device', value='cpu'),
            Parameter('input_reliability', value='reliable'),
            Parameter('input_depth', value=10)],
            cli_args=['--ros-args', '-r', f'image:=/{name}/image'])
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.close()
        self.node.destroy_node()


def test_out_of_memory_and_exceptions_drop_the_frame_and_the_node_goes_on(
        driver, models, capfd):
    name = f'segnet_fault_{os.getpid()}'
    inproc = _InProcess(models['a'], name)
    try:
        seg = inproc.node.segmenter
        real = seg.segment
        faults = [torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2 GiB'),
                  RuntimeError('CUDA error: out of memory'), MemoryError(),
                  RuntimeError('boom: a bug in one frame'), ValueError('another bad frame')]

        def segment(*args, **kwargs):
            if faults:
                raise faults.pop(0)
            return real(*args, **kwargs)
        seg.segment = segment
        topic = f'/{name}/class_mask'
        driver.record(topic)
        pub = driver.publisher(Image, f'/{name}/image', depth=10)
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() == 0 or inproc.node.outputs.images[
                'class_mask'].get_subscription_count() == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        rgb = np.random.default_rng(1).integers(0, 256, (48, 64, 3), np.uint8)
        for i in range(5):  # one at a time, so that none is dropped as stale
            pub.publish(conversions.numpy_to_imgmsg(rgb, 'rgb8', Image,
                                                    header=stamp_header(100 + i)))
            assert driver.wait_for(lambda k=i: inproc.node.pipeline.counters['errors'] > k,
                                   timeout=10)
        msg = conversions.numpy_to_imgmsg(rgb, 'rgb8', Image, header=stamp_header(200))
        assert driver.publish_until(pub, msg, lambda: driver.received[topic], timeout=20)
        c = inproc.node.pipeline.counters
        # The mask goes out before the frame is counted as processed.
        assert driver.wait_for(lambda: c['processed'] >= 1, timeout=10)
        # Out-of-memory errors are errors too, counted apart as well.
        assert c['out_of_memory'] == 3 and c['errors'] == 5
    finally:
        inproc.close()
    err = capfd.readouterr().err
    assert 'out of memory during inference' in err and 'frame dropped' in err
    assert 'inference failed on a frame (RuntimeError: boom' in err


def _camera(topic, gen):
    """Start a camera process publishing 48x64 rgb8 frames at 20 Hz, stamped gen.seq."""
    code = (
        'import sys, time, numpy as np, rclpy\n'
        'from sensor_msgs.msg import Image\n'
        'from segnet_ros.conversions import numpy_to_imgmsg\n'
        'rclpy.init()\n'
        f'n = rclpy.create_node("camera_{gen}")\n'
        f'p = n.create_publisher(Image, "{topic}", 1)\n'
        'rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)\n'
        'i = 0\n'
        'while True:\n'
        '    m = numpy_to_imgmsg(rgb, "rgb8", Image)\n'
        f'    m.header.stamp.sec, m.header.stamp.nanosec = {gen}, i\n'
        '    p.publish(m); i += 1; time.sleep(0.05)\n')
    return subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_subscribers_come_and_go_and_the_camera_restarts(driver, start, models):
    node = start({'model_path': models['a'], 'diagnostics_period': 0.2})
    driver.record_diagnostics()
    outputs = ('class_mask', 'overlay')
    extra = [Peer() for _ in range(2)]  # more subscriber nodes, besides the driver's own
    cams = []
    try:
        def gens(d, topic):
            with d.cond:
                return collections.Counter(m.header.stamp.sec for _, m in d.received.get(
                    topic, []))
        subs = {o: [driver.record(node.topic(o))] for o in outputs}
        for d in extra:
            for o in outputs:
                subs[o].append(d.record(node.topic(o)))
        cams.append(_camera(node.image_topic, 1))
        for d in [driver, *extra]:
            for o in outputs:
                assert d.wait_for(lambda d=d, o=o: gens(d, node.topic(o))[1] >= 5, timeout=40), (
                    o, node.output()[-2000:])
        # Subscribers leave and new ones arrive while frames flow.
        for d in extra:
            for s in list(d.node.subscriptions):
                d.node.destroy_subscription(s)
        late = Peer()
        extra.append(late)
        late.record(node.topic('class_mask'))
        # The camera dies without a goodbye and a new one starts.
        cams[0].send_signal(signal.SIGKILL)
        cams[0].wait()
        cams.append(_camera(node.image_topic, 2))
        for d, o in ((driver, 'class_mask'), (driver, 'overlay'), (late, 'class_mask')):
            assert d.wait_for(lambda d=d, o=o: gens(d, node.topic(o))[2] >= 5, timeout=40), (
                o, node.output()[-2000:])
        # Everyone leaves: the node stops segmenting but keeps receiving.
        for d in [driver, late]:
            for s in list(d.node.subscriptions):
                if s.topic_name != '/diagnostics':
                    d.node.destroy_subscription(s)
        before = int(driver.wait_for(lambda: driver.latest_diagnostics(node.name))[
            'frames_without_subscribers'])
        assert driver.wait_for(lambda: int((driver.latest_diagnostics(node.name) or {}).get(
            'frames_without_subscribers', 0)) > before + 5, timeout=20)
        d = driver.latest_diagnostics(node.name)
        assert d['inference_errors'] == '0' and d['frames_rejected'] == '0'
        assert node.proc.poll() is None
        assert 'Traceback' not in node.output()
    finally:
        for c in cams:
            if c.poll() is None:
                c.kill()
                c.wait()
        for d in extra:
            d.close()


def test_short_soak_latency_bounded_and_memory_flat(tmp_path):
    """The soak benchmark's own checks, over 40 s instead of 10 minutes."""
    out = tmp_path / 'soak.json'
    # --slack 2 doubles the margins of the growth check only (p95 of the last 10 s window
    # against the first's): 40 s on a shared machine. The worst case is bounded as always.
    # The camera at 60 Hz: since BatchNorm folding the default model takes about 32 ms in
    # bf16, too close to a 30 Hz camera's 33 ms for frames to be dropped every run.
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'soak.py'),
                           '--duration', '40', '--window', '10', '--slack', '2', '--rate', '60',
                           '--json', str(out)], capture_output=True, text=True, timeout=300)
    assert out.exists(), proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = res['rows']
    assert res['verdict']['ok'] and len(rows) == 4
    assert sum(r['dropped'] for r in rows) > 0  # the model is slower than the camera
    # What the README claims, checked here from the table rather than taken from the
    # script's verdict: the worst latency is about two inferences (a frame that lands just
    # after an inference began waits for it, then takes its own): at most 2.5 x the median
    # inference + 100 ms. A queue of even two frames would pass three inferences.
    infer = float(np.nanmedian([r['inference_ms_p50'] for r in rows]))
    worst = max(r['latency_ms']['max'] for r in rows)
    assert worst <= 2.5 * infer + 100, (worst, infer, proc.stdout)
    # Memory: after the first window (warm-up), the median of the once-a-second readings in
    # the last 20 s is within 20 MiB of the median in the 10 s before (this catches a leak
    # above about 1.3 MiB/s; the 10-minute run, one above about 4.5 MiB a minute).
    early = np.median(rows[1]['rss_mb_samples'])
    late = np.median(rows[2]['rss_mb_samples'] + rows[3]['rss_mb_samples'])
    assert late <= early + 20, (early, late, proc.stdout)


def test_a_swap_that_fails_any_way_is_refused_and_the_next_swap_works(models, capfd):
    inproc = _InProcess(models['a'], f'segnet_swap_{os.getpid()}')
    node = inproc.node
    try:
        real_load = node._load
        calls = []

        def failing_load(params):
            calls.append(params['model_path'])
            if len(calls) == 1:  # not a StartupError: what ONNX Runtime raises, for example
                raise OSError('could not map the model file')
            return real_load(params)
        node._load = failing_load
        old = node.segmenter
        res = node.set_parameters([Parameter('model_path', value=models['b'])])[0]
        assert res.successful  # accepted; the swap runs in the background and fails
        deadline = time.monotonic() + 30
        while node.pipeline.swapping or node.get_parameter('model_path').value != models['a']:
            assert time.monotonic() < deadline, 'the refused swap left the new value'
            time.sleep(0.05)
        assert node.segmenter is old and not node.pipeline.counters['model_swaps']
        res = node.set_parameters([Parameter('model_path', value=models['b'])])[0]
        assert res.successful
        while node.pipeline.counters['model_swaps'] == 0:
            assert time.monotonic() < deadline, 'the second swap never happened'
            time.sleep(0.05)
        assert node.segmenter.model_path == os.path.realpath(models['b'])
        assert node.get_parameter('model_path').value == models['b']
    finally:
        inproc.close()
    err = capfd.readouterr().err
    assert 'model reload refused' in err and 'OSError: could not map the model file' in err
