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
The nodes' interfaces as the documentation states them: topics, diagnostics keys.

``scripts/gen_reference.py`` renders these (with the parameters of ``segnet_ros.params`` and
the launch files' arguments) into ``doc/generated/``; ``test/test_reference.py`` compares
them with running nodes, so the reference cannot drift from the code. No ROS import here.
"""

import collections

Topic = collections.namedtuple('Topic', 'name type direction qos when description')

OUT = 'reliable, depth 1 (output_reliability, output_depth)'
LATCHED = 'reliable, transient local, depth 1'
IN = 'depth 1, reliability follows the publishers (input_reliability: auto)'

SEGNET_TOPICS = (
    Topic('image', 'sensor_msgs/msg/Image', 'subscribed', IN, 'image_transport raw',
          'camera frames; the base topic, remap it with image:=...'),
    Topic('image/compressed', 'sensor_msgs/msg/CompressedImage', 'subscribed', IN,
          'image_transport compressed', 'JPEG or PNG frames on <image>/compressed'),
    Topic('camera_info', 'sensor_msgs/msg/CameraInfo', 'subscribed',
          'best effort, depth 1 (input_depth)', 'use_camera_info', "the camera's calibration"),
    Topic('~/class_mask', 'sensor_msgs/msg/Image', 'published', OUT, '',
          'mono8 class index per pixel, the input header'),
    Topic('~/class_mask/compressed', 'sensor_msgs/msg/CompressedImage', 'published', OUT, '',
          'the class mask as lossless PNG ("mono8; png compressed "), encoded only while '
          'subscribed'),
    Topic('~/color_mask', 'sensor_msgs/msg/Image', 'published', OUT, '',
          'rgb8 class colours'),
    Topic('~/overlay', 'sensor_msgs/msg/Image', 'published', OUT, '',
          'rgb8 image blended with the class colours (overlay_alpha)'),
    Topic('~/confidence', 'sensor_msgs/msg/Image', 'published', OUT, '',
          'highest softmax probability per pixel: 32FC1 in 0..1, or mono8 0..255 '
          '(confidence_encoding)'),
    Topic('~/confidence/compressed', 'sensor_msgs/msg/CompressedImage', 'published', OUT, '',
          'a mono8 confidence as lossless PNG (nothing while confidence_encoding is 32FC1)'),
    Topic('~/uncertainty', 'sensor_msgs/msg/Image', 'published', OUT, 'a Bayesian model',
          '32FC1 Monte Carlo dropout variance per pixel; created and removed with model swaps'),
    Topic('~/camera_info', 'sensor_msgs/msg/CameraInfo', 'published', OUT, 'use_camera_info',
          'the last camera_info, stamped like each mask and scaled to its size'),
    Topic('~/class_info', 'std_msgs/msg/String', 'published', LATCHED, '',
          'JSON: class_names, class_colors, ignore_index, model, architecture, mask_topic'),
    Topic('~/label_info', 'vision_msgs/msg/LabelInfo', 'published', LATCHED,
          'vision_msgs installed', 'class_id (mask value) -> class_name; threshold 0.0; '
          're-published after every model swap'),
    Topic('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray', 'published',
          'reliable, depth 10', '', 'the keys below, every diagnostics_period'),
    Topic('~/transition_event', 'lifecycle_msgs/msg/TransitionEvent', 'published',
          'reliable, depth 10', 'the managed node', "rclpy's lifecycle: each state change"),
)

CLOUD_TOPICS = (
    Topic('class_mask', 'sensor_msgs/msg/Image', 'subscribed', IN, '',
          "the segnet node's ~/class_mask"),
    Topic('confidence', 'sensor_msgs/msg/Image', 'subscribed', IN, 'use_confidence',
          "the segnet node's ~/confidence, 32FC1 or mono8"),
    Topic('depth', 'sensor_msgs/msg/Image', 'subscribed', IN, '',
          'depth registered to the camera: 16UC1 in mm or 32FC1 in m'),
    Topic('depth_camera_info', 'sensor_msgs/msg/CameraInfo', 'subscribed',
          'reliable, depth 10', '', "the depth image's camera_info"),
    Topic('mask_camera_info', 'sensor_msgs/msg/CameraInfo', 'subscribed', 'reliable, depth 10',
          '', "the segnet node's ~/camera_info (optional: else the depth camera's, scaled)"),
    Topic('class_info', 'std_msgs/msg/String', 'subscribed', LATCHED, '',
          "the segnet node's ~/class_info (the class colours)"),
    Topic('~/points', 'sensor_msgs/msg/PointCloud2', 'published', OUT, '',
          'x y z (float32, m), rgb (packed float), label (uint32), confidence (float32); '
          'organized like the mask (valid_only: only valid points), the mask header'),
    Topic('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray', 'published',
          'reliable, depth 10', '', 'the keys below, every diagnostics_period'),
)

SEGNET_DIAGNOSTICS = {
    'input_rate_hz': 'frames received per second',
    'output_rate_hz': 'frames processed per second',
    'inference_ms_p50': 'model time per frame, median of the last frames',
    'inference_ms_p95': 'the same, 95th percentile',
    'latency_ms_p50': 'receive -> last output published, median',
    'latency_ms_p95': 'the same, 95th percentile',
    'frames_received': 'every frame offered (= processed + dropped + rejected + errors + '
                       'without subscribers)',
    'frames_processed': 'frames segmented and published',
    'frames_dropped': 'frames replaced by a newer one before the worker took them',
    'frames_rejected': 'malformed frames, all reasons',
    'frames_rejected_<reason>': 'per reason: encoding, size, too_large, step, data, decode, '
                                'invalid',
    'inference_errors': 'frames whose inference failed (out-of-memory ones included)',
    'out_of_memory_errors': 'of those, out of memory',
    'frames_without_subscribers': 'frames not segmented: nobody listened',
    'model_swaps': 'models swapped in at run time',
    'last_outputs': 'the outputs computed for the last frame',
    'resident_memory_mb': "the process's resident memory, MiB",
    'device': 'where the model runs',
    'precision': 'its compute precision',
    'backend': 'torch or onnxruntime',
    'model': 'the model file',
    'lifecycle_state': 'the managed node only: unconfigured, inactive or active',
    'input_qos': 'how the camera is read (reliability, following the publishers)',
    'dds': 'the Fast DDS settings in effect, as the ready line says them',
    'dds_profile': 'the Fast DDS profile file in effect, or none',
    'dds_shm_segment_bytes': "the shared-memory segment the node's participant owns (0: none)",
}

CLOUD_DIAGNOSTICS = {
    'clouds': 'clouds published',
    'masks_unmatched': 'masks no depth (and confidence) message joined',
    'rejected_depth': 'depth images of an encoding the node does not take',
    'rejected_camera_info': 'frames dropped for a camera_info it cannot use (zero focal '
                            'length, none yet, another size)',
    'rejected_other': 'other unusable input (a mask that is not mono8, a bad class_info)',
    'waiting_for_class_info': "joined frames dropped before the segnet node's class_info came",
    'queued': 'messages waiting for their partners, per input',
}

REJECT_REASONS = ('encoding', 'size', 'too_large', 'step', 'data', 'decode', 'invalid')


def diagnostics_keys(documented):
    """Return the documented keys with ``<reason>`` expanded to the real names."""
    keys = set()
    for key in documented:
        if '<reason>' in key:
            keys |= {key.replace('<reason>', r) for r in REJECT_REASONS}
        else:
            keys.add(key)
    return keys
