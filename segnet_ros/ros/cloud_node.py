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
``segnet_cloud_node``: depth + class mask (+ confidence) in, a semantic PointCloud2 out.

Subscribes ``depth`` (sensor_msgs/Image, 16UC1 mm or 32FC1 m, registered to the colour
camera), ``depth_camera_info``, the segnet node's ``class_mask``, ``confidence`` (when
``use_confidence``) and ``class_info`` (the colours), and optionally ``mask_camera_info`` (the
segnet node's ``~/camera_info``; without it the depth camera's intrinsics are scaled to the
mask's size). Publishes ``~/points``: organized like the mask, in the mask's frame and with
its stamp. The geometry is in ``segnet_ros.cloud`` (no ROS there).
"""

import json

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from sensor_msgs.msg import PointCloud2
from sensor_msgs.msg import PointField
from std_msgs.msg import String

from .input_qos import InputSubscription
from .interfaces import declare
from .interfaces import default_qos
from .interfaces import diagnostics
from .interfaces import LATCHED
from .interfaces import overridable
from .interfaces import STEADY
from .process import run_node
from .. import cloud
from .. import conversions
from ..params import check_parameter
from ..params import CLOUD_PARAMETERS
from ..pipeline import RateLimitedLog

_FIELD_TYPES = {np.float32: PointField.FLOAT32, np.uint32: PointField.UINT32}
POINT_FIELDS = [PointField(name=n, offset=o, datatype=_FIELD_TYPES[t], count=1)
                for n, t, o in cloud.FIELDS]
COUNTERS = ('clouds', 'masks_unmatched', 'rejected_depth', 'rejected_camera_info',
            'rejected_other', 'waiting_for_class_info')


class StartupError(RuntimeError):
    """A parameter is invalid."""


def to_pointcloud2(points, header):
    """Return a PointCloud2 of ``points`` (cloud.POINT array, 2-D organized or 1-D)."""
    h, w = points.shape if points.ndim == 2 else (1, points.shape[0])
    return PointCloud2(header=header, height=h, width=w, fields=POINT_FIELDS,
                       is_bigendian=False, point_step=points.dtype.itemsize,
                       row_step=points.dtype.itemsize * w, is_dense=points.ndim == 1,
                       data=points.tobytes())


def _stamp_ns(msg):
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class SegnetCloudNode(Node):
    """Back-projects each class mask with its registered depth image into a labelled cloud."""

    def __init__(self, node_name='segnet_cloud', **kwargs):
        super().__init__(node_name, **kwargs)
        self.params = declare(self, CLOUD_PARAMETERS)
        for name, value in self.params.items():
            err = check_parameter(name, value)
            if err:
                raise StartupError(f'parameter {name}: {err}')
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.log_limited = RateLimitedLog()
        streams = ['mask', 'depth'] + (['confidence'] if self.params['use_confidence'] else [])
        self.joiner = cloud.StampJoiner(streams, self.params['slop'], self.params['queue_size'])
        self.depth_info = self.mask_info = None
        self.palette = None
        qos = default_qos(self.params, 'output')
        self.pub = self.create_publisher(PointCloud2, '~/points', qos,
                                         qos_overriding_options=overridable())
        self.subs = [InputSubscription(self, Image, self.resolve_topic_name(topic),
                                       lambda m, s=stream: self._on(s, m), self.params)
                     for stream, topic in (('mask', 'class_mask'), ('depth', 'depth'),
                                           ('confidence', 'confidence')) if stream in streams]
        self.create_subscription(CameraInfo, 'depth_camera_info',
                                 lambda m: setattr(self, 'depth_info', m), 10)
        self.create_subscription(CameraInfo, 'mask_camera_info',
                                 lambda m: setattr(self, 'mask_info', m), 10)
        self.create_subscription(String, 'class_info', self._on_class_info, LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.params['diagnostics_period'], self._publish_diagnostics,
                          clock=STEADY)
        join = f"within {self.params['slop']:g} s" if self.params['slop'] else 'exact stamps'
        self.get_logger().info(
            f"ready: {', '.join(s.topic_name for s in self.subs)} + "
            f"{self.resolve_topic_name('depth_camera_info')} -> {self.pub.topic_name} "
            f'(join: {join})')

    def _on_set_parameters(self, changes):
        for prm in changes:
            err = check_parameter(prm.name, prm.value) if prm.name in CLOUD_PARAMETERS else None
            if err:
                return SetParametersResult(successful=False, reason=err)
        for prm in changes:
            if prm.name in self.params:
                self.params[prm.name] = prm.value
        if any(p.name == 'slop' for p in changes):
            self.joiner.slop_ns = int(self.params['slop'] * 1e9)
        return SetParametersResult(successful=True)

    def _on_class_info(self, msg):
        try:
            self.palette = np.array(json.loads(msg.data)['class_colors'], np.uint8).reshape(-1, 3)
        except (ValueError, KeyError, TypeError) as e:
            topic = self.resolve_topic_name('class_info')
            self._reject('other', f"{topic}: not the segnet node's class_info ({e})")

    def _reject(self, kind, text):
        self.counters[f'rejected_{kind}'] += 1
        self.log_limited(kind, self.get_logger().warning, f'{text}; frame dropped')

    def _on(self, stream, msg):
        joined, unmatched = self.joiner.add(stream, _stamp_ns(msg), msg)
        for t in unmatched:
            self.counters['masks_unmatched'] += 1
            near = self.joiner.nearest_offset_ms('depth', t)
            how = 'within the slop' if self.params['slop'] else 'with the same stamp'
            self.log_limited('unmatched', self.get_logger().warning, (
                f'class mask stamped {t / 1e9:.3f} s has no {self.subs[1].topic_name} message '
                f'{how}'
                + (f' (nearest depth {near:+.1f} ms away)' if near is not None else
                   ' (no depth received)') + '; raise the slop parameter if the driver stamps '
                'depth differently'))
        for match in joined:
            self._publish(match)

    def _publish(self, match):
        mask_msg, depth_msg = match['mask'], match['depth']
        if self.palette is None:
            self.counters['waiting_for_class_info'] += 1
            return
        try:
            if self.depth_info is None:
                raise cloud.CloudError(f"no {self.resolve_topic_name('depth_camera_info')} "
                                       'received yet', 'camera_info')
            depth_k = cloud.intrinsics(self.depth_info, self.resolve_topic_name(
                'depth_camera_info'))
            mask = conversions.imgmsg_to_numpy(mask_msg)
            if mask.ndim != 2 or mask.dtype != np.uint8:
                raise cloud.CloudError(f'{self.subs[0].topic_name}: encoding '
                                       f'{mask_msg.encoding!r}, expected mono8', 'other')
            h, w = mask.shape
            mask_k = cloud.intrinsics(self.mask_info, self.resolve_topic_name(
                'mask_camera_info')) if self.mask_info is not None and (
                self.mask_info.width, self.mask_info.height) == (w, h) else \
                cloud.scaled(depth_k, w, h)
            try:
                raw = conversions.imgmsg_to_numpy(depth_msg)
            except conversions.ConversionError as e:
                raise cloud.CloudError(f'{self.subs[1].topic_name}: {e}', 'encoding') from None
            z = cloud.depth_in_metres(raw, depth_msg.encoding, self.params['min_depth'],
                                      self.params['max_depth'])
            if z.shape != (depth_k.height, depth_k.width):
                raise cloud.CloudError(f'{self.subs[1].topic_name}: {z.shape[1]}x{z.shape[0]} '
                                       f'but its camera_info says {depth_k.width}x'
                                       f'{depth_k.height}', 'camera_info')
            conf = None
            if 'confidence' in match:
                c = match['confidence']
                conf = cloud.confidence_in_unit(conversions.imgmsg_to_numpy(c), c.encoding)
            points = cloud.make_cloud(mask, cloud.sample_depth(z, depth_k, mask_k), mask_k,
                                      self.palette, conf, self.params['stride'],
                                      self.params['valid_only'])
        except (cloud.CloudError, conversions.ConversionError) as e:
            reason = getattr(e, 'reason', 'other')
            kind = {'encoding': 'depth', 'camera_info': 'camera_info'}.get(reason, 'other')
            self._reject(kind, str(e))
            return
        self.pub.publish(to_pointcloud2(points, mask_msg.header))
        self.counters['clouds'] += 1

    def _publish_diagnostics(self):
        values = {k: str(v) for k, v in self.counters.items()}
        values['queued'] = ', '.join(f'{s} {len(q)}' for s, q in self.joiner.queues.items())
        bad = any(self.counters[k] for k in COUNTERS if k not in ('clouds',))
        self.diag_pub.publish(diagnostics(
            f'{self.get_fully_qualified_name()}: segnet_cloud', 'cloud', values,
            self.get_clock().now().to_msg(), warn=bad,
            message='unmatched or rejected frames (see counters)' if bad else 'running'))

    def close(self):
        """Nothing runs outside the executor: nothing to stop."""


def main(args=None):
    """Run ``segnet_cloud_node`` until Ctrl-C / SIGTERM; exit 2 with one line on bad set-up."""
    return run_node(SegnetCloudNode, 'segnet_cloud_node', args, (StartupError,))


if __name__ == '__main__':
    raise SystemExit(main())  # python -m segnet_ros.ros.entry segnet_cloud_node guards imports
