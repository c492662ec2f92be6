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
The node's ROS interfaces as data: output topics, parameter descriptors, diagnostics.

The parameters themselves (defaults, ranges, checks) are ROS-free in ``segnet_ros.params``;
this turns them into ``ParameterDescriptor``s.
"""

import contextlib
import json

from diagnostic_msgs.msg import DiagnosticArray
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.msg import KeyValue
from rcl_interfaces.msg import FloatingPointRange
from rcl_interfaces.msg import IntegerRange
from rcl_interfaces.msg import ParameterDescriptor
from rcl_interfaces.msg import ParameterType
from rclpy.clock import Clock
from rclpy.clock import ClockType
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.exceptions import InvalidParameterValueException
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.qos_overriding_options import InvalidQosOverridesError
from rclpy.qos_overriding_options import QoSOverridingOptions
from std_msgs.msg import String

from ..params import CLASS_COLORS
from ..params import CLASS_NAMES
from ..params import class_parameter_mismatch

# Output topic (relative to the node's private namespace) -> Segmenter output, encoding.
OUTPUTS = {'class_mask': ('mask', 'mono8'), 'color_mask': ('color', 'rgb8'),
           'overlay': ('overlay', 'rgb8'), 'confidence': ('confidence', '32FC1'),
           'uncertainty': ('uncertainty', '32FC1')}
# ~/class_info: the last message reaches late subscribers.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Rates, latencies and the diagnostics period run on this clock, not on /clock (sim time).
STEADY = Clock(clock_type=ClockType.STEADY_TIME)
_TYPES = ((bool, ParameterType.PARAMETER_BOOL), (int, ParameterType.PARAMETER_INTEGER),
          (float, ParameterType.PARAMETER_DOUBLE), (str, ParameterType.PARAMETER_STRING))
_ARRAY_TYPES = ((str, ParameterType.PARAMETER_STRING_ARRAY),
                (int, ParameterType.PARAMETER_INTEGER_ARRAY))


def descriptor(spec, value):
    """Return the ParameterDescriptor of a ``params.Spec`` whose value is ``value``."""
    if isinstance(value, list):
        kind = next(k for t, k in _ARRAY_TYPES if value and isinstance(value[0], t))
    else:
        kind = next(k for t, k in _TYPES if isinstance(value, t))
    d = ParameterDescriptor(description=spec.description, type=kind, read_only=spec.read_only)
    if spec.low is not None and kind == ParameterType.PARAMETER_INTEGER:
        d.integer_range = [IntegerRange(from_value=spec.low, to_value=spec.high, step=1)]
    elif spec.low is not None and kind == ParameterType.PARAMETER_DOUBLE:
        d.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high,
                                                     step=0.0)]
    return d


def declare(node, specs, values=None):
    """Declare ``specs`` (name -> Spec) on ``node``; return name -> value in effect."""
    values = values or {}
    for name, spec in specs.items():
        value = values.get(name, spec.default)
        node.declare_parameter(name, value, descriptor(spec, value))
    return {name: node.get_parameter(name).value for name in specs}


def diagnostics(name, hardware_id, values, stamp, warn=None, message=None):
    """
    Return a DiagnosticArray: WARN when frames were rejected or failed, else OK.

    ``warn`` and ``message``, when given, decide the level and the text instead.
    """
    bad = any(values.get(k, '0') != '0' for k in ('inference_errors', 'frames_rejected')) \
        if warn is None else warn
    status = DiagnosticStatus(
        level=DiagnosticStatus.WARN if bad else DiagnosticStatus.OK, name=name,
        message=message or ('rejected or failed frames (see counters)' if bad else 'running'),
        hardware_id=hardware_id, values=[KeyValue(key=k, value=v) for k, v in values.items()])
    arr = DiagnosticArray(status=[status])
    arr.header.stamp = stamp
    return arr


def class_info(seg, mask_topic):
    """Return ``~/class_info``: the model's classes and colours as JSON, and the mask topic."""
    return String(data=json.dumps({
        'model': seg.model_path, 'architecture': seg.info.architecture,
        'class_names': seg.class_names, 'class_colors': seg.class_colors,
        'ignore_index': seg.info.ignore_index, 'mask_topic': mask_topic}))


def describe_device(seg):
    """Return where and how a Segmenter runs, as the node says it: 'cpu bfloat16 (torch)'."""
    return f'{seg.device} {seg.dtype_name} ({seg.backend})'


def overridable():
    """Return options that let ``qos_overrides.<topic>.<entity>.<policy>`` parameters in."""
    return QoSOverridingOptions.with_default_policies()


@contextlib.contextmanager
def qos_override_errors(node, topic, kind, error_class):
    """Turn rclpy's refusal of a QoS override into ``error_class`` naming the parameter."""
    try:
        yield
    except (InvalidQosOverridesError, InvalidParameterTypeException,
            InvalidParameterValueException, RuntimeError) as e:
        name = f'qos_overrides.{node.resolve_topic_name(topic)}.{kind}'
        raise error_class(f'parameter {name}.*: {e}') from None


def default_qos(params, kind):
    """Return the QoS of the node's 'input' or 'output' endpoints before any override."""
    reliable = params[f'{kind}_reliability'] == 'reliable'
    return QoSProfile(depth=params[f'{kind}_depth'],
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT)


def declare_class_parameters(node, info, model_path):
    """
    Declare class_names and class_colors (read-only) from the model's header.

    A parameters file (a ``ros2 param dump`` of a running node) may set them too; returns
    an error when what it says differs from the model, else None.
    """
    model = {'class_names': list(info.class_names),
             'class_colors': [v for c in info.class_colors for v in c]}
    values = declare(node, {'class_names': CLASS_NAMES, 'class_colors': CLASS_COLORS}, model)
    for name, value in values.items():
        err = class_parameter_mismatch(name, value, model[name], model_path)
        if err:
            return err
    return None


def add_post_set_parameters_callback(node, callback):
    """
    Call ``callback(parameters)`` once accepted values are stored, on every distro.

    Iron and later have ``Node.add_post_set_parameters_callback``. Humble (rclpy 3.3) has
    only the callback before the values are stored; there the node's two public setters
    (the parameter services call ``set_parameters_atomically``) are wrapped so that
    ``callback`` runs after the values are stored and before the call returns, as on Iron:
    once per parameter for ``set_parameters``, once for all for ``set_parameters_atomically``.
    """
    native = getattr(node, 'add_post_set_parameters_callback', None)
    if native is not None:
        native(callback)
        return
    set_atomically = node.set_parameters_atomically

    def set_parameters(parameter_list):
        results = []
        for prm in parameter_list:  # one at a time, as Node.set_parameters does
            results.append(set_parameters_atomically([prm]))
        return results

    def set_parameters_atomically(parameter_list):
        result = set_atomically(parameter_list)
        if result.successful:
            callback(list(parameter_list))
        return result

    node.set_parameters = set_parameters
    node.set_parameters_atomically = set_parameters_atomically
