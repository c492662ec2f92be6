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

"""The frame pipeline without ROS: slot, accounting, swaps between frames, rate-limited logs."""

import os
import subprocess
import sys
import threading
import time

import pytest
from segnet_ros.pipeline import FramePipeline
from segnet_ros.pipeline import RateLimitedLog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Rejected(ValueError):
    """A frame the check refuses, with a reason like conversions.ConversionError."""

    def __init__(self, text, reason='size'):
        super().__init__(text)
        self.reason = reason


class FakeSegmenter:
    """Stands in for inference.Segmenter: records frames, can be held inside a frame."""

    device = 'cpu'

    def __init__(self, name):
        self.name = name
        self.frames = []
        self.closed = False
        self.gate = threading.Event()
        self.gate.set()
        self.inside = threading.Event()
        self.warmups = []  # (outputs, thread name) of each warm-up
        self.warm_gate = threading.Event()
        self.warm_gate.set()
        self.warming = threading.Event()
        self.fail_warmup = False

    def warmup(self, outputs=('mask',)):
        self.warming.set()
        self.warm_gate.wait(10)
        if self.fail_warmup:
            raise RuntimeError('out of memory in the overlay')
        self.warmups.append((outputs, threading.current_thread().name))

    def run(self, frame):
        assert not self.closed, 'a closed model was used'
        self.inside.set()
        self.gate.wait(10)
        self.frames.append(frame)

    def close(self):
        self.closed = True


class Harness:
    """A pipeline whose process function behaves as each frame says."""

    def __init__(self):
        self.logs = []
        self.listening = True
        self.shutting_down = False
        self.swapped_in = []  # (segmenter, thread name) from on_swap
        self.pipeline = FramePipeline(self.process, lambda t: self.logs.append(('warn', t)),
                                      lambda t: self.logs.append(('error', t)),
                                      rejected_error=Rejected,
                                      stopping=lambda: self.shutting_down,
                                      on_swap=lambda seg: self.swapped_in.append(
                                          (seg, threading.current_thread().name)))

    def process(self, segmenter, frame, t_recv):
        if frame == 'boom':
            raise RuntimeError('a bug in one frame')
        if frame == 'context closed':
            raise RuntimeError("Failed to publish: publisher's context is invalid")
        if frame == 'oom':
            raise MemoryError()
        if frame == 'undecodable':
            raise Rejected('does not decode', reason='decode')
        if not self.listening:
            return False
        segmenter.run(frame)
        self.pipeline.record(0.001, ['mask'])
        return True

    def wait_idle(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.pipeline.idle():
            assert time.monotonic() < deadline, 'the pipeline did not go idle'
            time.sleep(0.005)


def accounted(c):
    return (c['processed'] + c['dropped'] + c['rejected'] + c['errors']
            + c['without_subscribers'])


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.pipeline.close()


def check(frame):
    if frame == 'bad header':
        raise Rejected('claims 10^12 pixels', reason='too_large')
    if frame == 'buggy check':
        raise KeyError('a bug in the check')


def test_the_module_imports_no_ros():
    code = ('import sys; import segnet_ros.pipeline, segnet_ros.params, segnet_ros.camera; '
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('rclpy', 'rcl_interfaces', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', "
            "'lifecycle_msgs', 'launch', 'launch_ros') or m.startswith('segnet_ros.ros')]; "
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)


def test_node_module_stays_glue():
    with open(os.path.join(ROOT, 'segnet_ros', 'ros', 'node.py')) as f:
        lines = len(f.read().splitlines())
    assert lines <= 350, f'segnet_ros/ros/node.py has {lines} lines'


def test_newest_frame_replaces_the_waiting_one_and_counts_it_dropped(harness):
    seg = FakeSegmenter('a')
    seg.gate.clear()  # hold the worker inside the first frame
    harness.pipeline.start(seg)
    assert harness.pipeline.offer(1, check)
    assert seg.inside.wait(5)
    for frame in (2, 3, 4):
        assert harness.pipeline.offer(frame, check)
    seg.gate.set()
    harness.wait_idle()
    assert seg.frames == [1, 4]  # 2 and 3 were replaced while the model was busy
    c, _ = harness.pipeline.snapshot()
    assert (c['received'], c['processed'], c['dropped']) == (4, 2, 2)
    assert accounted(c) == c['received']


def test_every_frame_lands_in_exactly_one_counter(harness):
    seg = FakeSegmenter('a')
    harness.pipeline.start(seg)
    frames = [1, 'bad header', 'boom', 2, 'undecodable', 'buggy check', 'oom', 3]
    for frame in frames:
        harness.pipeline.offer(frame, check)
        harness.wait_idle()
    harness.listening = False
    harness.pipeline.offer(4, check)
    harness.wait_idle()
    c, by_reason = harness.pipeline.snapshot()
    assert c['received'] == len(frames) + 1
    assert (c['processed'], c['rejected'], c['errors'], c['out_of_memory'],
            c['without_subscribers'], c['dropped']) == (3, 2, 3, 1, 1, 0)
    assert by_reason['too_large'] == 1 and by_reason['decode'] == 1
    assert accounted(c) == c['received']
    errors = [t for level, t in harness.logs if level == 'error']
    assert any('RuntimeError: a bug in one frame' in t for t in errors)
    assert any('out of memory during inference' in t for t in errors)
    assert any('checking a frame failed (KeyError' in t for t in errors)


def test_a_rejected_frame_never_displaces_a_waiting_good_one(harness):
    seg = FakeSegmenter('a')
    seg.gate.clear()
    harness.pipeline.start(seg)
    harness.pipeline.offer(1, check)
    assert seg.inside.wait(5)
    harness.pipeline.offer(2, check)
    for _ in range(50):
        assert not harness.pipeline.offer('bad header', check)
    seg.gate.set()
    harness.wait_idle()
    assert seg.frames == [1, 2]
    c, _ = harness.pipeline.snapshot()
    assert c['dropped'] == 0 and c['rejected'] == 50


def test_stop_counts_the_waiting_frame_as_dropped(harness):
    seg = FakeSegmenter('a')
    seg.gate.clear()
    harness.pipeline.start(seg)
    harness.pipeline.offer(1, check)
    assert seg.inside.wait(5)
    harness.pipeline.offer(2, check)
    threading.Timer(0.2, seg.gate.set).start()
    harness.pipeline.stop()
    c, _ = harness.pipeline.snapshot()
    assert (c['received'], c['processed'], c['dropped']) == (2, 1, 1)
    assert not harness.pipeline.running


def test_swap_waits_for_the_frame_in_flight_then_closes_the_old_model(harness):
    old, new = FakeSegmenter('old'), FakeSegmenter('new')
    old.gate.clear()
    harness.pipeline.start(old)
    harness.pipeline.offer(1, check)
    assert old.inside.wait(5)
    done = threading.Event()
    threading.Thread(target=lambda: (harness.pipeline.swap(new), done.set())).start()
    assert not done.wait(0.3)  # the frame on the old model is not finished
    assert not old.closed
    old.gate.set()
    assert done.wait(5)
    assert old.closed and old.frames == [1]
    harness.pipeline.offer(2, check)
    harness.wait_idle()
    assert new.frames == [2] and harness.pipeline.counters['model_swaps'] == 1


def test_any_failure_refuses_a_background_swap_and_the_next_swap_works(harness):
    old, new = FakeSegmenter('old'), FakeSegmenter('new')
    harness.pipeline.start(old)
    refused = []

    def broken():
        raise OSError('onnxruntime could not open the model')  # not a SegmenterError
    assert harness.pipeline.swap_in_background(broken, refused.append)
    deadline = time.monotonic() + 5
    while harness.pipeline.swapping:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert isinstance(refused[0], OSError) and harness.pipeline.segmenter is old
    swapped = []
    assert harness.pipeline.swap_in_background(lambda: new, refused.append, swapped.append)
    while not swapped:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert harness.pipeline.segmenter is new and old.closed and len(refused) == 1


def test_a_second_swap_is_refused_while_one_runs_and_close_joins_it(harness):
    harness.pipeline.start(FakeSegmenter('a'))
    release = threading.Event()
    built = FakeSegmenter('b')

    def slow():
        release.wait(5)
        return built
    assert harness.pipeline.swap_in_background(slow, lambda e: None)
    assert not harness.pipeline.swap_in_background(lambda: FakeSegmenter('c'), lambda e: None)
    threading.Timer(0.2, release.set).start()
    harness.pipeline.close()
    assert not harness.pipeline.swapping and built.closed


def test_rate_limited_log_holds_back_and_says_how_many():
    now = [100.0]
    lines = []
    log = RateLimitedLog(period=5.0, clock=lambda: now[0])
    for i in range(10):
        log('rejected:step', lines.append, f'bad step {i}')
    log('rejected:data', lines.append, 'bad data')
    now[0] += 5.0
    log('rejected:step', lines.append, 'bad step again')
    assert lines == ['bad step 0', 'bad data',
                     'bad step again [9 more like this since the last such line]']


def test_a_model_that_cannot_run_in_the_chosen_precision_is_a_clean_error(models, monkeypatch):
    from segnet_ros.inference import Segmenter
    from segnet_ros.inference import SegmenterError
    from segnet_ros.params import PARAMETERS
    from segnet_ros.pipeline import load_segmenter

    def no_kernel(self, runs=1):
        raise NotImplementedError('"avg_pool3d_out_frame" not implemented for \'BFloat16\'')
    monkeypatch.setattr(Segmenter, 'warmup', no_kernel)
    params = {k: spec.default for k, spec in PARAMETERS.items()}
    with pytest.raises(SegmenterError, match='does not run on auto in precision auto: '
                       'NotImplementedError'):
        load_segmenter(models['a'], {**params, 'device': 'auto'})


def test_only_the_worker_runs_torch_with_all_threads(monkeypatch):
    # Loads and swaps run on one thread; the worker's forward gets INFERENCE_THREADS.
    import threading

    import torch
    from segnet_ros import pipeline as pl
    seen = {}
    done = threading.Event()

    class ThreadsSeen:
        device = 'cpu'

        def warmup(self, outputs=('mask',)):
            seen.setdefault('warmup', torch.get_num_threads())

        def close(self):
            pass

    def process(seg, frame, t):
        seen['worker'] = torch.get_num_threads()
        done.set()
        return True

    def build():
        seen['swap'] = torch.get_num_threads()
        return ThreadsSeen()
    before = torch.get_num_threads()
    p = pl.FramePipeline(process, print, print)
    try:
        p.start(ThreadsSeen())
        p.offer('frame')
        assert done.wait(10)
        swapped = threading.Event()
        p.swap_in_background(build, print, lambda seg: swapped.set())
        assert swapped.wait(10)
    finally:
        p.close()
        torch.set_num_threads(before)
    assert seen == {'warmup': pl.INFERENCE_THREADS, 'worker': pl.INFERENCE_THREADS,
                    'swap': 1}


def test_start_returns_once_the_worker_warmed_the_model_up_through_every_output(harness):
    seg = FakeSegmenter('m')
    seg.warm_gate.clear()
    started = threading.Event()
    threading.Thread(target=lambda: (harness.pipeline.start(seg), started.set())).start()
    assert not started.wait(0.3)  # the node's ready line waits for the warm-up
    seg.warm_gate.set()
    assert started.wait(5)
    # outputs=None: every output the model has; on the worker's thread (its thread count).
    assert seg.warmups == [(None, 'segnet_infer')]
    harness.pipeline.offer(1, check)
    harness.wait_idle()
    assert seg.frames == [1] and len(seg.warmups) == 1  # no warm-up on the camera frame


def test_a_swapped_in_model_is_warmed_up_before_its_first_frame(harness):
    old, new = FakeSegmenter('old'), FakeSegmenter('new')
    harness.pipeline.start(old)
    new.warm_gate.clear()
    done = threading.Event()
    threading.Thread(target=lambda: (harness.pipeline.swap(new), done.set())).start()
    assert new.warming.wait(5)
    harness.pipeline.offer(1, check)  # waits in the slot while the new model warms up
    assert not done.wait(0.3) and harness.pipeline.segmenter is old and not old.closed
    new.warm_gate.set()
    assert done.wait(5)
    harness.wait_idle()
    assert new.frames == [1] and old.frames == [] and old.closed
    assert new.warmups == [(None, 'segnet_infer')]
    # The outputs followed the model on the worker's thread, before the frame.
    assert harness.swapped_in == [(new, 'segnet_infer')]


def test_a_model_whose_warm_up_fails_is_refused_and_the_old_one_stays(harness):
    old, new = FakeSegmenter('old'), FakeSegmenter('new')
    harness.pipeline.start(old)
    new.fail_warmup = True
    refused = []
    assert harness.pipeline.swap_in_background(lambda: new, refused.append)
    deadline = time.monotonic() + 5
    while harness.pipeline.swapping:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(refused) == 1 and 'out of memory' in str(refused[0])
    assert harness.pipeline.segmenter is old and new.closed and not old.closed
    assert harness.swapped_in == [] and harness.pipeline.counters['model_swaps'] == 0
    harness.pipeline.offer(1, check)
    harness.wait_idle()
    assert old.frames == [1]
    # At start-up the failure is raised to the caller and no worker is left running.
    h2 = Harness()
    bad = FakeSegmenter('bad')
    bad.fail_warmup = True
    with pytest.raises(RuntimeError, match='out of memory'):
        h2.pipeline.start(bad)
    assert not h2.pipeline.running


def test_a_frame_in_flight_at_shutdown_is_dropped_not_an_error(harness):
    harness.pipeline.start(FakeSegmenter('m'))
    harness.pipeline.offer('context closed', check)
    harness.wait_idle()
    c, _ = harness.pipeline.snapshot()
    assert c['errors'] == 1 and [k for k, _ in harness.logs] == ['error']  # while running
    harness.logs.clear()
    harness.shutting_down = True
    harness.pipeline.offer('context closed', check)
    harness.wait_idle()
    c, _ = harness.pipeline.snapshot()
    assert (c['errors'], c['dropped']) == (1, 1) and harness.logs == []
    assert accounted(c) == c['received']


def test_shutdown_during_a_swap_neither_refuses_nor_completes_it(harness):
    old, new = FakeSegmenter('old'), FakeSegmenter('new')
    harness.pipeline.start(old)
    new.warm_gate.clear()
    refused, swapped = [], []
    assert harness.pipeline.swap_in_background(lambda: new, refused.append, swapped.append)
    assert new.warming.wait(5)
    threading.Timer(0.3, new.warm_gate.set).start()
    t0 = time.monotonic()
    harness.pipeline.close()
    assert time.monotonic() - t0 < 5  # within what ros2 launch waits before SIGTERM
    time.sleep(0.3)
    assert refused == [] and swapped == []
