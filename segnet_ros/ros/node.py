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
``segnet_node`` and ``segnet_lifecycle_node``: parameters, QoS, topics and the lifecycle.

The newest-frame slot, worker, accounting and swaps are in ``pipeline`` (no ROS there).
"""

import os

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image

from .input_qos import InputSubscription
from .interfaces import add_post_set_parameters_callback
from .interfaces import declare
from .interfaces import declare_class_parameters
from .interfaces import default_qos
from .interfaces import describe_device
from .interfaces import diagnostics
from .interfaces import overridable
from .interfaces import qos_override_errors
from .interfaces import STEADY
from .outputs import Outputs
from .process import run_node
from .. import conversions
from .. import dds
from .. import modelfile
from ..inference import resolve_device
from ..inference import SegmenterError
from ..params import check_parameter
from ..params import input_transport
from ..params import PARAMETERS
from ..params import RELOAD_PARAMS
from ..paths import default_model_path
from ..pipeline import FramePipeline
from ..pipeline import load_segmenter
from ..stats import release_free_memory
from ..stats import resident_mb


class StartupError(RuntimeError):
    """The node cannot start: a parameter or the model is invalid."""


class SegnetMixin:
    """What the plain and the lifecycle node share; the subclasses decide when it runs."""

    lifecycle_state = None  # the managed node's primary state, reported in /diagnostics
    _warned_cpu_fallback = False  # once per process, not once per model load

    def _init_node(self):
        self.params = declare(self, PARAMETERS)
        for name, value in self.params.items():
            err = check_parameter(name, value)
            if err:
                raise StartupError(f'parameter {name}: {err}')
        log = self.get_logger()
        self.pipeline = FramePipeline(
            self._process, log.warning, log.error, rejected_error=conversions.ConversionError,
            stopping=lambda: not self.context.ok(), on_swap=lambda seg: self.outputs.follow(seg))
        self._reverting, self._camera_info = False, None  # reverting: a swap was refused
        self.outputs = Outputs(self, self._endpoint, lifecycle=isinstance(self, LifecycleNode))
        self.sub = self.info_sub = self.diag_timer = self.diag_pub = None
        # The model file's header gives the class names and colours without the weights.
        info_path = self._model_path(self.params)
        info = modelfile.read_model_info(info_path)
        self.class_names = list(info.class_names)
        err = declare_class_parameters(self, info, info_path)
        if err:
            raise StartupError(err)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        add_post_set_parameters_callback(self, self._after_set_parameters)
        self.dds = dds.observe(warn=log.warning)  # the participant exists by now

    segmenter = property(lambda self: self.pipeline.segmenter, doc='the Segmenter in use')

    def _endpoint(self, create, msg_type, topic, *args, kind='publisher'):
        qos = default_qos(self.params, 'output' if kind == 'publisher' else 'input')
        with qos_override_errors(self, topic, kind, StartupError):
            return create(msg_type, topic, *args, qos, qos_overriding_options=overridable())

    def _create_outputs(self, segmenter):
        self.outputs.create(segmenter, self.params)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        # Steady clock: diagnostics go on when a simulated /clock stops.
        self.diag_timer = self.create_timer(self.params['diagnostics_period'],
                                            self._publish_diagnostics, clock=STEADY)
        try:
            self.warmup_s = self.pipeline.start(segmenter)  # the ready line comes after it
        except Exception as e:  # noqa: B902 - e.g. out of memory in an output's first run
            segmenter.close()
            raise StartupError(f'{segmenter.model_path}: the warm-up failed: '
                               f'{type(e).__name__}: {e}') from None

    def _create_inputs(self):
        # As image_transport does: remapping the base topic 'image' moves every transport.
        base = self.resolve_topic_name('image')
        compressed = input_transport(self.params) == 'compressed'
        topic = f'{base}/compressed' if compressed else base
        with qos_override_errors(self, topic, 'subscription', StartupError):
            self.sub = InputSubscription(self, CompressedImage if compressed else Image, topic,
                                         self._on_image, self.params)
        if self.params['use_camera_info']:
            self.info_sub = self._endpoint(self.create_subscription, CameraInfo, 'camera_info',
                                           lambda m: setattr(self, '_camera_info', m),
                                           kind='subscription')

    def _destroy_inputs(self):
        for sub in (self.sub, self.info_sub):
            if sub is not None:
                sub.destroy() if sub is self.sub else self.destroy_subscription(sub)
        self.sub = self.info_sub = None
        self.pipeline.clear()

    def _destroy_outputs(self):
        self.pipeline.close()
        if self.diag_timer is not None:
            self.destroy_timer(self.diag_timer)
        if self.diag_pub is not None:
            self.destroy_publisher(self.diag_pub)
        self.outputs.destroy()
        self.diag_pub = self.diag_timer = None

    def _log_ready(self):
        seg = self.segmenter
        self.get_logger().info(
            f'ready: model {seg.model_path} ({seg.info.architecture} x{seg.info.width}, '
            f'{seg.num_classes} classes) on {describe_device(seg)}, warmed up in '
            f'{self.warmup_s * 1000:.0f} ms, input {self.sub.topic_name} '
            f'({self.sub.describe()}), outputs under {self.get_fully_qualified_name()}/; '
            f'DDS: {self.dds.line}')

    @staticmethod
    def _model_path(params):
        # An empty model_path is the bundled model for the device: a device change swaps it.
        path = params['model_path'] or default_model_path(resolve_device(params['device']).type)
        return os.path.realpath(os.path.expanduser(path))

    def _load(self, params):
        self.get_logger().info(f'loading {self._model_path(params)} (device '
                               f"{params['device']}, precision {params['precision']})")
        try:
            seg = load_segmenter(self._model_path(params), params, self.class_names,
                                 warn=self.get_logger().warning)
        except SegmenterError as e:
            raise StartupError(str(e)) from None
        if params['device'] == 'auto' and seg.device.type == 'cpu' and \
                not SegnetMixin._warned_cpu_fallback:
            SegnetMixin._warned_cpu_fallback = True
            self.get_logger().warning("device 'auto': no CUDA device available, running on "
                                      'the CPU')
        return seg

    def _on_image(self, msg):
        check = conversions.check_compressed if isinstance(msg, CompressedImage) \
            else conversions.check_image
        self.pipeline.offer(msg, lambda m: check(m, self.params['max_image_pixels']))

    def _on_set_parameters(self, changes):
        for prm in changes:
            err = check_parameter(prm.name, prm.value) if prm.name in PARAMETERS else None
            if err:
                return SetParametersResult(successful=False, reason=err)
        if self.pipeline.swapping and not self._reverting and any(
                p.name in RELOAD_PARAMS for p in changes):
            return SetParametersResult(successful=False,
                                       reason='a model reload is already in progress')
        return SetParametersResult(successful=True)

    def _after_set_parameters(self, changes):
        # Values are stored by now: a failed swap's revert cannot be overwritten by them.
        old, new = self.params, {**self.params, **{p.name: p.value for p in changes
                                                   if p.name in PARAMETERS}}
        self.params = new
        if self.segmenter is not None and not self._reverting and any(
                new[k] != old[k] for k in RELOAD_PARAMS):
            self.pipeline.swap_in_background(lambda: self._load(new),
                                             lambda e: self._swap_refused(old, new, e),
                                             self._swapped)

    def _swap_refused(self, old, new, error):
        """Any failure keeps the old model and puts the old parameter values back."""
        why = error if isinstance(error, StartupError) else f'{type(error).__name__}: {error}'
        self.get_logger().error(f'model reload refused, keeping {self.segmenter.model_path}: '
                                f'{why}')
        self._reverting = True
        try:
            self.set_parameters([Parameter(k, value=old[k]) for k in RELOAD_PARAMS
                                 if old[k] != new[k]])
        finally:
            self._reverting = False

    def _swapped(self, seg):
        self.get_logger().info(f'model swapped in: {seg.model_path} on {describe_device(seg)}'
                               f", outputs {', '.join(sorted(self.outputs.images))}")

    def _process(self, segmenter, msg, t_recv):
        want = self.outputs.wanted(self.params)
        if not want:
            return False
        if isinstance(msg, CompressedImage):
            rgb = conversions.compressed_to_rgb8(msg, self.params['max_image_pixels'])
        else:
            rgb = conversions.to_rgb8(msg, max_pixels=self.params['max_image_pixels'])

        # The class mask goes out as soon as it is ready, before the other outputs.
        publish = self.outputs.publisher(self.params, msg.header, self._camera_info)
        res = segmenter.segment(rgb, sorted(want), self.params['overlay_alpha'], publish,
                                at_network=self.params['output_resolution'] == 'network')
        self.pipeline.record(res.infer_s, want)
        return True

    def _publish_diagnostics(self):
        seg = self.segmenter
        if seg is None or self.diag_pub is None:
            return
        release_free_memory()
        values = {**self.pipeline.diagnostic_values(),
                  'resident_memory_mb': f'{resident_mb():.1f}', 'device': str(seg.device),
                  'precision': seg.dtype_name, 'backend': seg.backend,
                  'model': seg.model_path}
        if self.lifecycle_state is not None:
            values['lifecycle_state'] = self.lifecycle_state
        values['input_qos'] = self.sub.describe() if self.sub is not None else 'not subscribed'
        values.update(self.dds.values)
        self.diag_pub.publish(diagnostics(f'{self.get_fully_qualified_name()}: segnet', str(
            seg.device), values, self.get_clock().now().to_msg()))

    def close(self):
        """Stop the worker (and a swap in progress) and release the model and GPU memory."""
        self.pipeline.close()


class SegnetNode(SegnetMixin, Node):
    """Semantic segmentation node: image in; class mask, colours, overlay, confidence out."""

    def __init__(self, node_name='segnet', **kwargs):
        super().__init__(node_name, **kwargs)
        self._init_node()
        self._create_outputs(self._load(self.params))
        self._create_inputs()
        self._log_ready()


class SegnetLifecycleNode(SegnetMixin, LifecycleNode):
    """
    Managed variant: parameters on construction, model and publishers on configure.

    Activate subscribes and enables the image publishers (lifecycle publishers: nothing is
    published while inactive); deactivate unsubscribes and disables them; cleanup frees the
    model and GPU memory. ``/diagnostics`` (with the lifecycle state) and the latched
    ``~/class_info`` go on while inactive. A model that cannot be loaded fails configure.
    """

    def __init__(self, node_name='segnet', **kwargs):
        super().__init__(node_name, **kwargs)
        self._init_node()
        self.lifecycle_state = 'unconfigured'

    def on_configure(self, state):
        """Load the model and create the publishers."""
        try:
            seg = self._load(self.params)
            self._create_outputs(seg)
        except StartupError as e:
            self.get_logger().error(f'configure failed: {e}')
            self.on_cleanup(state)
            return TransitionCallbackReturn.FAILURE
        self.lifecycle_state = 'inactive'
        self.get_logger().info(f'configured: {seg.model_path} on {describe_device(seg)}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        """Enable the image publishers and subscribe to the camera."""
        super().on_activate(state)
        self.outputs.active = True
        self._create_inputs()
        self.lifecycle_state = 'active'
        self._log_ready()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        """Unsubscribe and disable the image publishers; the model stays loaded."""
        self._destroy_inputs()
        self.outputs.active = False
        self.lifecycle_state = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        """Release publishers, the worker and the model (GPU memory included)."""
        self._destroy_inputs()
        self.outputs.active = False
        self._destroy_outputs()
        self.lifecycle_state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        """Release everything whatever the state."""
        return self.on_cleanup(state)

    on_error = on_shutdown  # after an error in a transition, release everything too


def main(args=None):
    """Run ``segnet_node`` until Ctrl-C / SIGTERM; exit 2 with one line on bad set-up."""
    return run_node(SegnetNode, 'segnet_node', args, (StartupError,))


def main_lifecycle(args=None):
    """Run the managed node; drive it with the lifecycle services (or ``ros2 lifecycle``)."""
    return run_node(SegnetLifecycleNode, 'segnet_lifecycle_node', args, (StartupError,))


if __name__ == '__main__':
    raise SystemExit(main())  # python -m segnet_ros.ros.entry segnet_node guards the imports
