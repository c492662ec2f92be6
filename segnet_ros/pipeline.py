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
The frame pipeline: newest-frame slot, worker thread, accounting, rate-limited logs, swaps.

Plain Python, no ROS: the node hands it each incoming message with the check to run on it,
and a function that processes one frame on a Segmenter. The slot holds one frame: a newer
one replaces it (counted as dropped), so the worker never falls behind the camera. Every
frame offered ends up in exactly one counter::

    received = processed + dropped + rejected + errors + without_subscribers

(``out_of_memory`` counts the errors that were out-of-memory errors; a frame in flight when
the process shuts down counts as dropped, not as an error). The worker warms every model up
on a blank frame of the network's size, through every output, before it runs a camera frame
on it: at start (before the node says it is ready) and on a swap, which happens between
frames: the frame in flight finishes on the old model, the new one is warmed up and put in,
and the old one is closed.
"""

import threading
import time

import torch

from .inference import free_cached_memory
from .inference import is_out_of_memory
from .inference import resolve_device
from .inference import Segmenter
from .inference import SegmenterError
from .stats import RateMeter
from .stats import Window

REJECT_REASONS = ('encoding', 'size', 'too_large', 'step', 'data', 'decode', 'invalid')
COUNTERS = ('received', 'processed', 'dropped', 'rejected', 'errors', 'out_of_memory',
            'without_subscribers', 'model_swaps')


def load_segmenter(model_path, params, class_names=None, warn=None):
    """
    Build and warm up a Segmenter from node parameters; any failure is a SegmenterError.

    Running out of memory while loading frees what was taken; a model whose classes differ
    from ``class_names`` (what the node already publishes) is refused.
    """
    seg = None
    try:
        seg = Segmenter(model_path, device=params['device'], precision=params['precision'],
                        input_size=(params['inference_height'], params['inference_width']),
                        mc_samples=params['mc_samples'], backend=params['backend'],
                        upsample=params['upsample'], flip=params['test_time_flip'], warn=warn)
        seg.warmup()
    except SegmenterError:
        raise
    except Exception as e:  # noqa: B902 - running out of memory becomes a clean error
        if seg is not None:
            seg.close()
        if not is_out_of_memory(e):
            # e.g. a layer without a kernel for the chosen precision on this device
            raise SegmenterError(f"{model_path}: the model does not run on {params['device']}"
                                 f" in precision {params['precision']}: "
                                 f'{type(e).__name__}: {e}') from None
        free_cached_memory(resolve_device(params['device']))
        raise SegmenterError(f'{model_path}: out of memory loading the model on '
                             f"{params['device']} ({e})") from None
    if class_names is not None and seg.class_names != list(class_names):
        seg.close()
        raise SegmenterError(
            f'{seg.model_path} has classes {seg.class_names}, the node publishes '
            f'{list(class_names)}; restart the node to change the class set')
    return seg


# The forward pass's threads: torch's choice here (the cores, or OMP_NUM_THREADS), read at
# import, before confine_to_one_thread() lowers the process default.
INFERENCE_THREADS = torch.get_num_threads()


def confine_to_one_thread():
    """
    Run the calling thread's torch work on one thread (start-up, model loads, swaps).

    With GNU OpenMP every thread that runs a parallel region keeps its own team of threads.
    Once the teams together hold more threads than there are cores, libgomp stops spinning
    between parallel regions, and the worker's forward (about 50 regions) became 1.6-2x
    slower: bundled model, bf16, 2 cores, 20-22 ms against 10-12 ms when only the worker
    ever ran torch with two threads. Only the worker runs with ``INFERENCE_THREADS``.
    """
    torch.set_num_threads(1)


class RateLimitedLog:
    """At most one line per key every ``period`` seconds; the next says how many were held."""

    def __init__(self, period=5.0, clock=time.monotonic):
        self.period = period
        self._clock = clock
        self._lock = threading.Lock()
        self._gates = {}  # key -> [time of the last line, lines held back since]

    def __call__(self, key, log, text):
        """Log ``text`` with ``log`` unless a line with ``key`` went out less than a period ago."""
        now = self._clock()
        with self._lock:
            gate = self._gates.setdefault(key, [now - self.period, 0])
            if now - gate[0] < self.period:
                gate[1] += 1
                return False
            held, gate[0], gate[1] = gate[1], now, 0
        if held:
            text += f' [{held} more like this since the last such line]'
        log(text)
        return True


class FramePipeline:
    """
    Newest-frame slot and worker thread around a Segmenter.

    ``process(segmenter, frame, t_recv)`` does the work for one frame and returns True when
    it produced outputs, False when it skipped the frame because nobody listens; it may raise
    ``rejected_error`` (counted as rejected, with its ``reason``) or anything else (counted
    as an error). ``warn`` and ``error`` are logging functions taking one string.
    ``stopping()`` says whether the process is shutting down (an error then is the frame in
    flight meeting a closed middleware, not a failure); ``on_swap(segmenter)`` runs on the
    worker's thread when a swapped-in model takes over, before its first frame.
    """

    def __init__(self, process, warn, error, rejected_error=ValueError, log_period=5.0,
                 clock=time.monotonic, stopping=None, on_swap=None):
        self._process = process
        self._warn, self._error = warn, error
        self._stopping = stopping or (lambda: False)
        self._on_swap = on_swap
        self._rejected_error = rejected_error
        self._clock = clock
        self.log_limited = RateLimitedLog(log_period, clock)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = None     # (frame, receive time), the newest frame not yet taken
        self._in_use = None      # the Segmenter the worker is running a frame on
        self._handover = None    # a Segmenter for the worker to warm up and put in
        self._stop = False
        self._worker = None
        self._swapper = None
        self.segmenter = None
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.rejected_by_reason = dict.fromkeys(REJECT_REASONS, 0)
        self.in_rate, self.out_rate = RateMeter(), RateMeter()
        self.infer_ms, self.latency_ms = Window(), Window()
        self.last_outputs = ''

    # ---- the worker ------------------------------------------------------------------------
    def start(self, segmenter, timeout=300.0):
        """
        Start the worker on ``segmenter`` once it has warmed it up; return the warm-up seconds.

        What the warm-up raised is raised here, and the worker is stopped again.
        """
        self.segmenter = None
        with self._lock:
            self._stop = False
        self._worker = threading.Thread(target=self._work, name='segnet_infer', daemon=True)
        self._worker.start()
        try:
            return self._hand_over(segmenter, timeout)
        except BaseException:  # KeyboardInterrupt too: no worker is left behind
            self.stop()
            raise

    def _hand_over(self, segmenter, timeout):
        """Have the worker warm ``segmenter`` up and put it in; raise what the warm-up raised."""
        job = {'segmenter': segmenter, 'done': False, 'error': None, 'seconds': 0.0}
        with self._lock:
            self._handover = job
            self._wake.notify_all()
            self._wake.wait_for(lambda: job['done'] or self._stop, timeout)
            if not job['done']:
                self._handover = None
        if job['error'] is not None:
            raise job['error']
        if not job['done']:
            raise SegmenterError(f'{segmenter.model_path}: the warm-up did not finish in '
                                 f'{timeout:.0f} s')
        return job['seconds']

    def stop(self, timeout=10.0):
        """Stop the worker after the frame in flight; the waiting frame counts as dropped."""
        self.clear()
        with self._lock:
            self._stop = True
            self._wake.notify_all()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout)
        self._worker = None
        if self._swapper is not None:
            # A model still loading is left to finish (or die with the process): shutdown
            # must end within the 5 s ros2 launch gives before it escalates.
            self._swapper.join(min(timeout, 2.0))
            self._swapper = None

    def clear(self):
        """Drop the waiting frame (counted as dropped), e.g. when the input goes away."""
        with self._lock:
            if self._pending is not None:
                self.counters['dropped'] += 1
            self._pending = None

    @property
    def running(self):
        """Whether the worker thread is alive."""
        return self._worker is not None and self._worker.is_alive()

    def idle(self):
        """Whether no frame is waiting or in flight."""
        with self._lock:
            return self._pending is None and self._in_use is None

    # ---- input -------------------------------------------------------------------------------
    def offer(self, frame, check=None):
        """
        Count ``frame`` and put it in the slot, replacing (dropping) a waiting one.

        ``check(frame)`` runs first, here on the caller's thread: a frame it rejects is
        counted and never displaces a good frame waiting for the worker. Returns True when
        the frame was queued.
        """
        self.in_rate.tick()
        with self._lock:
            self.counters['received'] += 1
        try:
            if check is not None:
                check(frame)
        except self._rejected_error as e:
            self.reject(e)
            return False
        except Exception as e:  # noqa: B902 - a bug in a check must not stop the caller
            self._count('errors')
            self.log_limited('check', self._error,
                             f'checking a frame failed ({type(e).__name__}: {e}); frame dropped')
            return False
        with self._lock:
            if self._pending is not None:
                self.counters['dropped'] += 1
            self._pending = (frame, self._clock())
            self._wake.notify()
        return True

    def reject(self, error):
        """Count a rejected frame by its reason and log it (rate-limited per reason)."""
        reason = getattr(error, 'reason', None)
        reason = reason if reason in REJECT_REASONS else 'invalid'
        with self._lock:
            self.counters['rejected'] += 1
            self.rejected_by_reason[reason] += 1
        self.log_limited(f'rejected:{reason}', self._warn, f'frame rejected ({reason}): {error}')

    def _count(self, key):
        with self._lock:
            self.counters[key] += 1

    def _warm_up(self, job):
        # Here, with the worker's thread count: the kernels the first forward picks are per
        # thread count, and the first camera frame must not pay for them.
        seg, t0 = job['segmenter'], self._clock()
        try:
            seg.warmup(outputs=None)
        except Exception as e:  # noqa: B902 - the caller refuses the model with it
            job['error'] = e
        else:
            with self._lock:
                previous, self.segmenter = self.segmenter, seg
            if previous is not None and self._on_swap is not None:
                try:
                    self._on_swap(seg)
                except Exception as e:  # noqa: B902 - the model runs; say what did not
                    self._error(f'after the model swap: {type(e).__name__}: {e}')
        job['seconds'] = self._clock() - t0
        with self._lock:
            job['done'] = True
            self._wake.notify_all()

    def _work(self):
        torch.set_num_threads(INFERENCE_THREADS)
        while True:
            with self._lock:
                while self._pending is None and self._handover is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                job, self._handover = self._handover, None
                if job is None:
                    (frame, t_recv), self._pending = self._pending, None
                    segmenter = self._in_use = self.segmenter
            if job is not None:
                self._warm_up(job)
                continue
            out_of_memory = False
            try:
                if self._process(segmenter, frame, t_recv):
                    self._count('processed')
                    self.out_rate.tick()
                    self.latency_ms.add((self._clock() - t_recv) * 1000)
                else:
                    self._count('without_subscribers')
            except self._rejected_error as e:
                self.reject(e)
            except Exception as e:  # noqa: B902 - one bad frame must never stop the node
                if self._stop or self._stopping():
                    # The frame in flight at shutdown met a closed middleware: not an error.
                    self._count('dropped')
                else:
                    out_of_memory = self._failed(segmenter, e)
            with self._lock:
                self._in_use = None
                self._wake.notify_all()  # a swap may be waiting to close the old model
            if out_of_memory:
                # Here, not in the except block, where the traceback still holds the frame's
                # tensors and the cache could not give them back.
                free_cached_memory(segmenter.device)

    def _failed(self, segmenter, e):
        """Count and log a frame that failed; return whether it ran out of memory."""
        out_of_memory = is_out_of_memory(e)
        with self._lock:
            self.counters['errors'] += 1
            self.counters['out_of_memory'] += out_of_memory
        key, text = ('out_of_memory', f'out of memory during inference on {segmenter.device} '
                     f'({e}); frame dropped, cache emptied') if out_of_memory else (
            'errors', f'inference failed on a frame ({type(e).__name__}: {e}); frame dropped')
        self.log_limited(key, self._error, text)
        return out_of_memory

    def record(self, infer_s, outputs):
        """Note one processed frame's inference time and the outputs it computed."""
        self.infer_ms.add(infer_s * 1000)
        self.last_outputs = ','.join(sorted(set(outputs)))

    # ---- model swaps ---------------------------------------------------------------------------
    def swap(self, segmenter, timeout=60.0):
        """
        Put ``segmenter`` in, warmed up by the worker between two frames; close the old one.

        What the warm-up raised is raised here, and the old model stays.
        """
        previous = self.segmenter
        if self.running:
            self._hand_over(segmenter, timeout)
        else:  # no worker (not started, or stopped): start() warms it up
            self.segmenter = segmenter
        self._count('model_swaps')
        if previous is not None and previous is not segmenter:
            previous.close()

    @property
    def swapping(self):
        """Whether a background swap is in progress."""
        return self._swapper is not None and self._swapper.is_alive()

    def swap_in_background(self, build, refused, done=None):
        """
        Build a Segmenter off the caller's thread with ``build()`` and swap it in.

        Any exception from ``build`` refuses the swap: ``refused(error)`` runs (to log and
        to put the old settings back) and the pipeline can swap again. Returns False when
        a swap is already in progress.
        """
        if self.swapping:
            return False

        def run():
            confine_to_one_thread()
            seg = None
            try:
                seg = build()
                self.swap(seg)
            except Exception as e:  # noqa: B902 - whatever failed, the old model stays
                if seg is not None and seg is not self.segmenter:
                    seg.close()
                if not self._stop:  # a swap cut short by shutdown is not a refusal
                    refused(e)
                return
            if done is not None and not self._stop:
                done(seg)
        self._swapper = threading.Thread(target=run, name='segnet_swap', daemon=True)
        self._swapper.start()
        return True

    def close(self):
        """Stop the worker (and a swap in progress) and close the Segmenter."""
        self.stop()
        if self.segmenter is not None:
            self.segmenter.close()
        self.segmenter = None

    # ---- reporting -----------------------------------------------------------------------------
    def snapshot(self):
        """Return (counters, rejected by reason), copied under the lock."""
        with self._lock:
            return dict(self.counters), dict(self.rejected_by_reason)

    def diagnostic_values(self):
        """Return the pipeline's diagnostics as name -> text."""
        c, rejected = self.snapshot()
        return {
            'input_rate_hz': f'{self.in_rate.rate():.2f}',
            'output_rate_hz': f'{self.out_rate.rate():.2f}',
            'inference_ms_p50': f'{self.infer_ms.percentile(50):.2f}',
            'inference_ms_p95': f'{self.infer_ms.percentile(95):.2f}',
            'latency_ms_p50': f'{self.latency_ms.percentile(50):.2f}',
            'latency_ms_p95': f'{self.latency_ms.percentile(95):.2f}',
            'frames_received': str(c['received']),
            'frames_processed': str(c['processed']),
            'frames_dropped': str(c['dropped']),
            'frames_rejected': str(c['rejected']),
            'inference_errors': str(c['errors']),
            'out_of_memory_errors': str(c['out_of_memory']),
            'frames_without_subscribers': str(c['without_subscribers']),
            'model_swaps': str(c['model_swaps']),
            **{f'frames_rejected_{k}': str(v) for k, v in rejected.items()},
            'last_outputs': self.last_outputs,
        }
