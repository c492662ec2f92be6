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
``segnet_node``: the ROS 2 glue around the inference core.

The subscription callback only stores the newest frame; a worker thread runs the model on
it, so the node never queues behind the camera. Outputs are computed only for topics that
have subscribers, and nothing runs while no one listens.
"""

import copy
import json
import os
import signal
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.msg import KeyValue
from rcl_interfaces.msg import FloatingPointRange
from rcl_interfaces.msg import IntegerRange
from rcl_interfaces.msg import ParameterDescriptor
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy
from rclpy.qos import HistoryPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image
from std_msgs.msg import String

from . import conversions
from . import modelfile
from .inference import BACKENDS
from .inference import free_cached_memory
from .inference import is_out_of_memory
from .inference import PRECISIONS
from .inference import resolve_device
from .inference import Segmenter
from .inference import SegmenterError
from .inference import UPSAMPLING
from .paths import dds_settings
from .paths import default_model_path
from .paths import use_large_image_transport
from .stats import RateMeter
from .stats import release_free_memory
from .stats import resident_mb
from .stats import Window

# Output topic (relative to the node's private namespace) -> Segmenter output name.
OUTPUTS = {
    'class_mask': 'mask',
    'color_mask': 'color',
    'overlay': 'overlay',
    'confidence': 'confidence',
    'uncertainty': 'uncertainty',
}
TOPICS = {out: [t for t, o in OUTPUTS.items() if o == out] for out in set(OUTPUTS.values())}
ENCODING = {'mask': 'mono8', 'color': 'rgb8', 'overlay': 'rgb8', 'confidence': '32FC1',
            'uncertainty': '32FC1'}
RELIABILITY = ('best_effort', 'reliable')
REJECT_REASONS = ('encoding', 'size', 'too_large', 'step', 'data', 'decode', 'invalid')
LOG_PERIOD_S = 5.0
# Changing these rebuilds the Segmenter in the background and swaps it in.
RELOAD_PARAMS = ('model_path', 'device', 'precision', 'backend', 'upsample', 'inference_height',
                 'inference_width', 'mc_samples')


class StartupError(RuntimeError):
    """The node cannot start: a parameter or the model is invalid."""


def _describe(text, kind, read_only=False, lo=None, hi=None, step=None):
    d = ParameterDescriptor(description=text, type=kind, read_only=read_only)
    if kind == ParameterType.PARAMETER_INTEGER and lo is not None:
        d.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=step or 1)]
    if kind == ParameterType.PARAMETER_DOUBLE and lo is not None:
        d.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
    return d


_S = ParameterType.PARAMETER_STRING
_B = ParameterType.PARAMETER_BOOL
_I = ParameterType.PARAMETER_INTEGER
_D = ParameterType.PARAMETER_DOUBLE

# name -> (default, descriptor). Defaults for model_path resolve at start-up.
PARAMETERS = {
    'model_path': ('', _describe(
        'SegNet model file (.safetensors); empty = the bundled CamVid model', _S)),
    'device': ('auto', _describe(
        "'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'", _S)),
    'precision': ('auto', _describe(
        "'auto' (fp16 on CUDA, fp32 on CPU), 'fp32', 'fp16' or 'bf16'", _S)),
    'backend': ('auto', _describe(
        "'auto' (PyTorch, the faster here), 'torch' or 'onnxruntime' (CPU, fp32)",
        _S)),
    'upsample': ('mask', _describe(
        "below image resolution: 'mask' (argmax at network resolution, nearest-neighbour "
        "mask; fast) or 'logits' (bilinear class scores, then argmax; slower)", _S)),
    'inference_height': (0, _describe(
        "network input height in pixels; 0 = the model's training size", _I, lo=0, hi=8192)),
    'inference_width': (0, _describe(
        "network input width in pixels; 0 = the model's training size", _I, lo=0, hi=8192)),
    'overlay_alpha': (0.5, _describe(
        'weight of the class colours in ~/overlay (0 = image only, 1 = colours only)', _D,
        lo=0.0, hi=1.0)),
    'mc_samples': (8, _describe(
        'Monte Carlo dropout samples for Bayesian models (ignored otherwise)', _I, lo=1, hi=64)),
    'publish_class_mask': (True, _describe('publish ~/class_mask (mono8 class index)', _B)),
    'publish_color_mask': (True, _describe('publish ~/color_mask (rgb8 palette)', _B)),
    'publish_overlay': (True, _describe('publish ~/overlay (rgb8 blend)', _B)),
    'publish_confidence': (True, _describe('publish ~/confidence (32FC1 max softmax)', _B)),
    'publish_uncertainty': (True, _describe(
        'publish ~/uncertainty (32FC1, Bayesian models only)', _B)),
    'use_compressed': (False, _describe(
        'subscribe image/compressed (CompressedImage) instead of image', _B, read_only=True)),
    'use_camera_info': (False, _describe(
        'subscribe camera_info and republish it as ~/camera_info with each mask', _B,
        read_only=True)),
    'input_reliability': ('best_effort', _describe(
        "input QoS reliability: 'best_effort' (sensor data) or 'reliable'", _S,
        read_only=True)),
    'input_depth': (1, _describe('input QoS history depth', _I, read_only=True, lo=1, hi=100)),
    'output_reliability': ('reliable', _describe(
        "output QoS reliability: 'reliable' or 'best_effort'", _S, read_only=True)),
    'output_depth': (1, _describe('output QoS history depth', _I, read_only=True, lo=1,
                                  hi=100)),
    'max_image_pixels': (4096 * 4096, _describe(
        'frames claiming more pixels are rejected before decoding', _I, lo=1,
        hi=1 << 30)),
    'diagnostics_period': (1.0, _describe('seconds between /diagnostics messages', _D,
                                          read_only=True, lo=0.1, hi=60.0)),
}


def check_parameter(name, value):
    """Return an error string for an invalid parameter value, or None when it is valid."""
    if name == 'device':
        try:
            resolve_device(value)
        except SegmenterError as e:
            return str(e)
    elif name == 'precision' and value not in PRECISIONS:
        return f"precision must be one of {', '.join(PRECISIONS)}, got '{value}'"
    elif name == 'upsample' and value not in UPSAMPLING:
        return f"upsample must be one of {', '.join(UPSAMPLING)}, got '{value}'"
    elif name == 'backend' and value not in BACKENDS:
        return f"backend must be one of {', '.join(BACKENDS)}, got '{value}'"
    elif name in ('input_reliability', 'output_reliability') and value not in RELIABILITY:
        return f"{name} must be 'best_effort' or 'reliable', got '{value}'"
    elif name == 'model_path':
        path = os.path.realpath(os.path.expanduser(value or default_model_path()))
        if not os.path.isfile(path):
            return f'model_path {path}: not a regular file'
        if not os.access(path, os.R_OK):
            return f'model_path {path}: not readable'
        try:
            modelfile.read_model_info(path)
        except modelfile.ModelFileError as e:
            return str(e)
    return None


def scale_camera_info(info, header, width, height):
    """Return a copy of ``info`` stamped with ``header`` and scaled to width x height."""
    out = copy.deepcopy(info)
    out.header = header
    if info.width and info.height and (info.width, info.height) != (width, height):
        sx, sy = width / info.width, height / info.height
        k = list(info.k)
        k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
        out.k = k
        p = list(info.p)
        p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
        out.p = p
        out.roi.x_offset = int(info.roi.x_offset * sx)
        out.roi.y_offset = int(info.roi.y_offset * sy)
        out.roi.width = int(info.roi.width * sx)
        out.roi.height = int(info.roi.height * sy)
    out.width, out.height = width, height
    return out


class SegnetMixin:
    """
    The node's state and work, shared by the plain and the lifecycle node.

    The subclasses decide when each piece exists: the plain node builds everything at once;
    the lifecycle node loads the model and creates publishers on configure, subscribes on
    activate and releases everything on deactivate / cleanup.
    """

    def _init_parameters(self):
        for name, (default, desc) in PARAMETERS.items():
            self.declare_parameter(name, default, desc)
        self.p = {name: self.get_parameter(name).value for name in PARAMETERS}
        for name, value in self.p.items():
            err = check_parameter(name, value)
            if err:
                raise StartupError(f'parameter {name}: {err}')
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = None          # newest unprocessed frame: (msg, receive time)
        self._in_use = None           # the Segmenter the worker is running, if any
        self._reverting = False       # a refused reload is putting the old parameters back
        self._stop = False
        self._worker = None
        self.counters = {'received': 0, 'processed': 0, 'dropped': 0, 'rejected': 0,
                         'errors': 0, 'out_of_memory': 0, 'idle_skipped': 0,
                         'model_swaps': 0}
        self.rejected_by_reason = dict.fromkeys(REJECT_REASONS, 0)
        self._log_gate = {}            # log key -> [last log time, lines suppressed since]
        self.in_rate, self.out_rate = RateMeter(), RateMeter()
        self.infer_ms, self.latency_ms = Window(), Window()
        self._camera_info = None
        self._last_outputs = ''
        self._reloading = False
        self.segmenter = None
        self.pubs, self.info_pub, self.class_pub, self.diag_pub = {}, None, None, None
        self.sub = self.info_sub = self.diag_timer = None
        # Class names and colours are read-only parameters; the header of the model file
        # gives them without loading any weights.
        self._declare_class_parameters(modelfile.read_model_info(self._model_path(self.p)))
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _create_outputs(self):
        out_qos = QoSProfile(depth=self.p['output_depth'],
                             reliability=self._reliability('output_reliability'))
        for topic, out in OUTPUTS.items():
            if out == 'uncertainty' and not self.segmenter.bayesian:
                continue
            self.pubs[topic] = self.create_publisher(Image, f'~/{topic}', out_qos)
        if self.p['use_camera_info']:
            self.info_pub = self.create_publisher(CameraInfo, '~/camera_info', out_qos)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.class_pub = self.create_publisher(String, '~/class_info', latched)
        self._publish_class_info()
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.diag_timer = self.create_timer(self.p['diagnostics_period'],
                                            self._publish_diagnostics)
        self._stop = False
        self._worker = threading.Thread(target=self._work, name='segnet_infer', daemon=True)
        self._worker.start()

    def _create_inputs(self):
        in_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.p['input_depth'],
                            reliability=self._reliability('input_reliability'))
        if self.p['use_compressed']:
            self.sub = self.create_subscription(CompressedImage, 'image/compressed',
                                                self._on_image, in_qos)
        else:
            self.sub = self.create_subscription(Image, 'image', self._on_image, in_qos)
        if self.p['use_camera_info']:
            self.info_sub = self.create_subscription(CameraInfo, 'camera_info',
                                                     self._on_camera_info, in_qos)

    def _destroy_inputs(self):
        for sub in (self.sub, self.info_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self.sub = self.info_sub = None
        with self._lock:
            self._pending = None

    def _destroy_outputs(self):
        self._stop_worker()
        if self.diag_timer is not None:
            self.destroy_timer(self.diag_timer)
        for pub in [*self.pubs.values(), self.info_pub, self.class_pub, self.diag_pub]:
            if pub is not None:
                self.destroy_publisher(pub)
        self.pubs, self.info_pub, self.class_pub, self.diag_pub = {}, None, None, None
        self.diag_timer = None

    def _unload(self):
        if self.segmenter is not None:
            self.segmenter.close()
        self.segmenter = None

    def _log_ready(self):
        seg = self.segmenter
        self.get_logger().info(
            f'ready: model {seg.model_path} ({seg.info.architecture} x{seg.info.width}, '
            f"{seg.num_classes} classes) on {seg.device} {str(seg.dtype).replace('torch.', '')}"
            f' ({seg.backend})'
            f', input {self.sub.topic_name}, outputs under {self.get_fully_qualified_name()}/'
            f'; DDS: {dds_settings()}')

    # ---- set-up helpers -------------------------------------------------------------------
    def _reliability(self, name):
        return ReliabilityPolicy.RELIABLE if self.p[name] == 'reliable' \
            else ReliabilityPolicy.BEST_EFFORT

    @staticmethod
    def _model_path(p):
        return os.path.realpath(os.path.expanduser(p['model_path'] or default_model_path()))

    def _build_segmenter(self, p):
        path = self._model_path(p)
        seg, out_of_memory = None, None
        try:
            seg = Segmenter(path, device=p['device'], precision=p['precision'],
                            input_size=(p['inference_height'], p['inference_width']),
                            mc_samples=p['mc_samples'], backend=p['backend'],
                            upsample=p['upsample'],
                            warn=lambda m: self.get_logger().warning(m))
            seg.warmup()
        except SegmenterError as e:
            raise StartupError(str(e)) from None
        except Exception as e:  # noqa: B902 - only running out of memory is expected here
            if not is_out_of_memory(e):
                raise
            out_of_memory = str(e)
        if out_of_memory is not None:
            if seg is not None:
                seg.close()
            free_cached_memory(resolve_device(p['device']))
            raise StartupError(f'{path}: out of memory loading the model on {p["device"]} '
                               f'({out_of_memory})')
        if p['device'] == 'auto' and seg.device.type == 'cpu':
            self.get_logger().warning("device 'auto': no CUDA device available, running on "
                                      'the CPU')
        return seg

    def _declare_class_parameters(self, info):
        self.class_names = list(info.class_names)
        self.declare_parameter('class_names', self.class_names, _describe(
            'class name of each mask value (read-only, from the model)',
            ParameterType.PARAMETER_STRING_ARRAY, read_only=True))
        self.declare_parameter('class_colors', [v for c in info.class_colors for v in c],
                               _describe('r, g, b of each class, flattened (read-only)',
                                         ParameterType.PARAMETER_INTEGER_ARRAY,
                                         read_only=True))

    def _publish_class_info(self):
        seg = self.segmenter
        if self.class_pub is None:
            return
        self.class_pub.publish(String(data=json.dumps({
            'model': seg.model_path, 'architecture': seg.info.architecture,
            'class_names': seg.class_names, 'class_colors': seg.class_colors,
            'ignore_index': seg.info.ignore_index, 'mask_topic': self.pubs[
                'class_mask'].topic_name})))

    # ---- callbacks ------------------------------------------------------------------------
    def _wanted(self):
        """Segmenter outputs that are enabled and have at least one subscriber."""
        want = []
        for topic, pub in self.pubs.items():
            if self.p[f'publish_{topic}'] and pub.get_subscription_count() > 0:
                want.append(OUTPUTS[topic])
        if self.info_pub is not None and want:
            want.append('mask')
        return want

    def _on_image(self, msg):
        self.in_rate.tick()
        # Header checks here, before queueing: a flood of malformed messages is counted and
        # never displaces a good frame waiting for the worker.
        try:
            if isinstance(msg, CompressedImage):
                conversions.check_compressed(msg, self.p['max_image_pixels'])
            else:
                conversions.check_image(msg, self.p['max_image_pixels'])
        except conversions.ConversionError as e:
            with self._lock:
                self.counters['received'] += 1
            self._reject(e)
            return
        except Exception as e:  # noqa: B902 - a bug in a check must not stop the executor
            with self._lock:
                self.counters['received'] += 1
                self.counters['errors'] += 1
            self._log_limited('errors', self.get_logger().error,
                              f'checking a frame failed ({type(e).__name__}: {e}); frame '
                              'dropped')
            return
        with self._lock:
            self.counters['received'] += 1
            if self._pending is not None:
                # The waiting frame is older than this one: replace it, never queue.
                self.counters['dropped'] += 1
            self._pending = (msg, time.monotonic())
            self._wake.notify()

    def _reject(self, error):
        reason = error.reason if error.reason in REJECT_REASONS else 'invalid'
        with self._lock:
            self.counters['rejected'] += 1
            self.rejected_by_reason[reason] += 1
        self._log_limited(f'rejected:{reason}', self.get_logger().warning,
                          f'frame rejected ({reason}): {error}')

    def _log_limited(self, key, log, text):
        """Log at most one line per ``key`` every LOG_PERIOD_S, with how many were held back."""
        now = time.monotonic()
        with self._lock:
            gate = self._log_gate.setdefault(key, [-LOG_PERIOD_S, 0])
            if now - gate[0] < LOG_PERIOD_S:
                gate[1] += 1
                return
            held, gate[0], gate[1] = gate[1], now, 0
        if held:
            text += f' [{held} more like this since the last such line]'
        log(text)

    def _on_camera_info(self, msg):
        self._camera_info = msg

    def _on_set_parameters(self, params):
        new = dict(self.p)
        for prm in params:
            if prm.name not in PARAMETERS:
                continue
            err = check_parameter(prm.name, prm.value)
            if err:
                return SetParametersResult(successful=False, reason=err)
            new[prm.name] = prm.value
        if self.segmenter is not None and not self._reverting and any(
                new[k] != self.p[k] for k in RELOAD_PARAMS):
            if self._reloading:
                return SetParametersResult(
                    successful=False, reason='a model reload is already in progress')
            self._reloading = True
            threading.Thread(target=self._reload, args=(dict(self.p), new), daemon=True,
                             name='segnet_reload').start()
        self.p = new
        return SetParametersResult(successful=True)

    def _load(self, p):
        """Build a Segmenter for parameters ``p``; refuse a model with other classes."""
        seg = self._build_segmenter(p)
        if seg.class_names != self.class_names:
            seg.close()
            raise StartupError(
                f'{seg.model_path} has classes {seg.class_names}, the node publishes '
                f'{self.class_names}; restart the node to change the class set')
        return seg

    def _reload(self, old, new):
        """Build the new Segmenter off the executor and swap it in; on failure keep the old."""
        log = self.get_logger()
        try:
            seg = self._load(new)
        except StartupError as e:
            log.error(f'model reload refused, keeping {self.segmenter.model_path}: {e}')
            self._reverting = True
            try:
                self.set_parameters([Parameter(k, value=old[k])
                                     for k in RELOAD_PARAMS if old[k] != new[k]])
            finally:
                self._reverting = False
                self._reloading = False
            return
        with self._lock:
            previous, self.segmenter = self.segmenter, seg
            self.counters['model_swaps'] += 1
            # The worker may still be segmenting a frame with the old model.
            self._wake.wait_for(lambda: self._in_use is not previous, timeout=60.0)
        previous.close()
        self._reloading = False
        self._publish_class_info()
        log.info(f'model swapped in: {seg.model_path} on {seg.device}')

    # ---- the worker -----------------------------------------------------------------------
    def _work(self):
        while True:
            with self._lock:
                while self._pending is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                (msg, t_recv), self._pending = self._pending, None
                segmenter = self._in_use = self.segmenter
            if segmenter is None:
                continue
            out_of_memory = False
            try:
                self._process(segmenter, msg, t_recv)
            except Exception as e:  # one bad frame must never stop the node
                out_of_memory = is_out_of_memory(e)
                if out_of_memory:
                    key, text = 'out_of_memory', (
                        f'out of memory during inference on {segmenter.device} ({e}); frame '
                        'dropped, cache emptied')
                else:
                    key, text = 'errors', (f'inference failed on a frame ({type(e).__name__}: '
                                           f'{e}); frame dropped')
                with self._lock:
                    self.counters[key] += 1
                self._log_limited(key, self.get_logger().error, text)
            with self._lock:
                self._in_use = None
                self._wake.notify_all()  # a model swap may be waiting to close the old model
            if out_of_memory:
                # Here, not in the except block, where the traceback still holds the frame's
                # tensors and the cache could not give them back.
                free_cached_memory(segmenter.device)

    def _process(self, segmenter, msg, t_recv):
        want = self._wanted()
        if not want:
            with self._lock:
                self.counters['idle_skipped'] += 1
            return
        try:
            if isinstance(msg, CompressedImage):
                rgb = conversions.compressed_to_rgb8(msg, self.p['max_image_pixels'])
            else:
                rgb = conversions.to_rgb8(msg, max_pixels=self.p['max_image_pixels'])
        except conversions.ConversionError as e:
            self._reject(e)
            return
        header = msg.header

        def publish(output, arr):
            # Called as each output is ready: the class mask goes out before the rest is
            # computed (benchmarks/bench_node.py).
            for topic in TOPICS[output]:
                if topic in self.pubs and self.p[f'publish_{topic}']:
                    self.pubs[topic].publish(conversions.numpy_to_imgmsg(
                        arr, ENCODING[output], Image, header=header))
            if output == 'mask' and self.info_pub is not None and self._camera_info is not None:
                self.info_pub.publish(scale_camera_info(self._camera_info, header,
                                                        arr.shape[1], arr.shape[0]))

        res = segmenter.segment(rgb, outputs=want, alpha=self.p['overlay_alpha'], emit=publish)
        self._last_outputs = ','.join(sorted(set(want)))
        self.out_rate.tick()
        self.infer_ms.add(res.infer_s * 1000)
        self.latency_ms.add((time.monotonic() - t_recv) * 1000)
        with self._lock:
            self.counters['processed'] += 1

    # ---- diagnostics ----------------------------------------------------------------------
    def _publish_diagnostics(self):
        seg = self.segmenter
        if seg is None or self.diag_pub is None:
            return
        release_free_memory()
        with self._lock:
            c = dict(self.counters)
            rejected = dict(self.rejected_by_reason)
        values = {
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
            'frames_without_subscribers': str(c['idle_skipped']),
            'model_swaps': str(c['model_swaps']),
            **{f'frames_rejected_{k}': str(v) for k, v in rejected.items()},
            'last_outputs': self._last_outputs,
            'resident_memory_mb': f'{resident_mb():.1f}',
            'device': str(seg.device),
            'precision': str(seg.dtype).replace('torch.', ''),
            'backend': seg.backend,
            'model': seg.model_path,
        }
        level, text = DiagnosticStatus.OK, 'running'
        if c['errors'] or c['rejected'] or c['out_of_memory']:
            level, text = DiagnosticStatus.WARN, 'rejected or failed frames (see counters)'
        status = DiagnosticStatus(level=level, name=f'{self.get_fully_qualified_name()}: segnet',
                                  message=text, hardware_id=str(seg.device),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    # ---- shutdown -------------------------------------------------------------------------
    def _stop_worker(self):
        with self._lock:
            self._stop = True
            self._pending = None
            self._wake.notify_all()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=10.0)
        self._worker = None

    def close(self):
        """Stop the worker and release the model (and its GPU memory)."""
        self._stop_worker()
        self._unload()


class SegnetNode(SegnetMixin, Node):
    """Semantic segmentation node: image in; class mask, colours, overlay, confidence out."""

    def __init__(self, node_name='segnet', **kwargs):
        super().__init__(node_name, **kwargs)
        self._init_parameters()
        self.segmenter = self._load(self.p)
        self._create_outputs()
        self._create_inputs()
        self._log_ready()


class SegnetLifecycleNode(SegnetMixin, LifecycleNode):
    """
    Managed variant of the node.

    Parameters on construction, model and publishers on configure, subscription on
    activate; deactivate unsubscribes, cleanup frees the model and GPU memory.

    A model that cannot be loaded fails the configure transition with one log line.
    """

    def __init__(self, node_name='segnet', **kwargs):
        super().__init__(node_name, **kwargs)
        self._init_parameters()

    def on_configure(self, state):
        """Load the model and create the publishers."""
        try:
            self.segmenter = self._load(self.p)
        except StartupError as e:
            self.get_logger().error(f'configure failed: {e}')
            return TransitionCallbackReturn.FAILURE
        self._create_outputs()
        self.get_logger().info(f'configured: {self.segmenter.model_path} on '
                               f'{self.segmenter.device}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        """Subscribe to the camera."""
        self._create_inputs()
        self._log_ready()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        """Unsubscribe; the model stays loaded."""
        self._destroy_inputs()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state):
        """Release publishers, the worker and the model (GPU memory included)."""
        self._destroy_inputs()
        self._destroy_outputs()
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        """Release everything whatever the state."""
        return self.on_cleanup(state)

    def on_error(self, state):
        """Release everything after an error in a transition."""
        self.on_cleanup(state)
        return TransitionCallbackReturn.SUCCESS


def _guard_signals():
    """
    Turn the first SIGINT / SIGTERM into KeyboardInterrupt and ignore any later one.

    ``ros2 launch`` forwards Ctrl-C as a second SIGINT a moment after the terminal's: it must
    not interrupt the clean-up that the first one started. rclpy's own handlers (installed by
    ``rclpy.init``) run first and chain to these.
    """
    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def main(args=None, node_class=None):
    """Run the node until Ctrl-C / SIGTERM; exit non-zero with one line on bad set-up."""
    use_large_image_transport()
    _guard_signals()
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = (node_class or SegnetNode)()
        rclpy.spin(node)
    except StartupError as e:
        print(f'segnet_node: error: {e}', file=sys.stderr)
        code = 2
    except (InvalidParameterValueException, InvalidParameterTypeException) as e:
        print(f'segnet_node: error: invalid parameter: {e}', file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # From here on a signal must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if node is not None:
            node.close()
            name = node.get_fully_qualified_name()
            node.destroy_node()
            # Not the node's logger: it also writes to /rosout, whose publisher a signal may
            # already have shut down with the context.
            rclpy.logging.get_logger('segnet_ros').info(
                f'{name}: shut down, worker stopped, model released')
        if rclpy.ok():
            rclpy.shutdown()
    return code


def main_lifecycle(args=None):
    """Run the managed node; drive it with the lifecycle services (or ``ros2 lifecycle``)."""
    return main(args, SegnetLifecycleNode)


if __name__ == '__main__':
    sys.exit(main())
