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
The node's parameters: defaults, descriptions, ranges and validation, without ROS.

The node turns each ``Spec`` into a ROS parameter with a ``ParameterDescriptor``; the same
checks run at start-up and on every run-time change.
"""

from dataclasses import dataclass
import os

from . import modelfile
from .inference import BACKENDS
from .inference import PRECISIONS
from .inference import resolve_device
from .inference import SegmenterError
from .inference import UPSAMPLING
from .paths import default_model_path
from .paths import file_problem

RELIABILITY = ('best_effort', 'reliable')
OUTPUT_RESOLUTIONS = ('image', 'network')
# image_transport's transports this node reads: the base topic, and <base>/compressed.
TRANSPORTS = ('raw', 'compressed')
# Changing these rebuilds the Segmenter in the background and swaps it in.
RELOAD_PARAMS = ('model_path', 'device', 'precision', 'backend', 'upsample', 'inference_height',
                 'inference_width', 'mc_samples', 'test_time_flip')


@dataclass(frozen=True)
class Spec:
    """One parameter: its default (whose type is the parameter's), text and range."""

    default: object
    description: str
    read_only: bool = False
    low: float = None
    high: float = None


# Defaults for model_path resolve at start-up.
PARAMETERS = {
    'model_path': Spec('', 'SegNet model file (.safetensors); empty = the bundled CamVid model '
                       'for the device (on CUDA the CUDA SegNet where one is bundled)'),
    'device': Spec('auto', "'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'"),
    'precision': Spec('auto', "'auto' (fp16 on CUDA; bf16 on CPUs with native bf16 "
                      "(avx512_bf16/amx_bf16), else fp32), 'fp32', 'fp16' or 'bf16'"),
    'backend': Spec('auto', "'auto' (PyTorch, the faster here), 'torch' or 'onnxruntime' "
                    '(CPU, fp32)'),
    'upsample': Spec('mask', "below image resolution: 'mask' (argmax at network resolution, "
                     "nearest-neighbour mask; fast) or 'logits' (bilinear class scores, then "
                     'argmax; slower)'),
    'inference_height': Spec(0, "network input height in pixels; 0 = the model's training "
                             'size', low=0, high=8192),
    'inference_width': Spec(0, "network input width in pixels; 0 = the model's training size",
                            low=0, high=8192),
    'test_time_flip': Spec(False, 'average the class scores of each frame and its mirror image '
                           '(about twice the forward cost; deterministic models only)'),
    'output_resolution': Spec('image', "'image' (outputs at the camera frame's size) or "
                              "'network' (at the network input size, as Isaac ROS and "
                              'ros_deep_learning publish them; cheaper for HD frames; '
                              '~/camera_info is scaled to match)'),
    'overlay_alpha': Spec(0.5, 'weight of the class colours in ~/overlay (0 = image only, '
                          '1 = colours only)', low=0.0, high=1.0),
    'mc_samples': Spec(8, 'Monte Carlo dropout samples for Bayesian models (ignored otherwise)',
                       low=1, high=64),
    'publish_class_mask': Spec(True, 'publish ~/class_mask (mono8 class index)'),
    'publish_color_mask': Spec(True, 'publish ~/color_mask (rgb8 palette)'),
    'publish_overlay': Spec(True, 'publish ~/overlay (rgb8 blend)'),
    'publish_confidence': Spec(True, 'publish ~/confidence (max softmax, in '
                               'confidence_encoding)'),
    'confidence_encoding': Spec('32FC1', "~/confidence as '32FC1' (0..1) or 'mono8' "
                                '(round(255 * c), 0..255, as costmap layers read it; also '
                                'offered PNG-compressed on ~/confidence/compressed)'),
    'publish_uncertainty': Spec(True, 'publish ~/uncertainty (32FC1, Bayesian models only)'),
    'image_transport': Spec('raw', "input transport, as image_transport names it: 'raw' "
                            "(sensor_msgs/Image on the base topic 'image') or 'compressed' "
                            '(CompressedImage on <base topic>/compressed)', read_only=True),
    'use_compressed': Spec(False, "alias: true = image_transport 'compressed'",
                           read_only=True),
    'use_camera_info': Spec(False, 'subscribe camera_info and republish it as ~/camera_info '
                            'with each mask', read_only=True),
    'input_reliability': Spec('auto', "input QoS reliability: 'auto' (reliable when every "
                              'publisher on the topic is reliable, else best-effort: HD frames '
                              "from a reliable camera arrive), 'best_effort' (sensor data) or "
                              "'reliable'; qos_overrides.<topic>.subscription.reliability "
                              'wins over it', read_only=True),
    'input_depth': Spec(1, 'default input QoS history depth; qos_overrides.<topic>.'
                        'subscription.depth wins over it', read_only=True, low=1, high=100),
    'output_reliability': Spec('reliable', "default output QoS reliability: 'reliable' or "
                               "'best_effort'; qos_overrides.<topic>.publisher.reliability "
                               'wins over it', read_only=True),
    'output_depth': Spec(1, 'default output QoS history depth; qos_overrides.<topic>.'
                         'publisher.depth wins over it', read_only=True, low=1, high=100),
    'max_image_pixels': Spec(4096 * 4096, 'frames claiming more pixels are rejected before '
                             'decoding', low=1, high=1 << 30),
    'diagnostics_period': Spec(1.0, 'seconds between /diagnostics messages', read_only=True,
                               low=0.1, high=60.0),
}

CONFIDENCE_ENCODINGS = ('32FC1', 'mono8')

# segnet_cloud_node: depth + class mask (+ confidence) -> a semantic PointCloud2.
CLOUD_PARAMETERS = {
    'slop': Spec(0.0, 'seconds: 0 joins depth, mask and confidence by exact header stamp; > 0 '
                 'takes the nearest message within this much (drivers whose depth stamps '
                 'differ from the colour stamps)', low=0.0, high=1.0),
    'use_confidence': Spec(True, "join the segnet node's ~/confidence (32FC1 or mono8) into "
                           "the cloud's confidence field; false: NaN there", read_only=True),
    'valid_only': Spec(False, 'publish only the points with valid depth (an unorganized '
                       'cloud, height 1) instead of the organized grid of the mask'),
    'stride': Spec(1, 'keep every n-th pixel in both directions (1 = every pixel)', low=1,
                   high=64),
    'min_depth': Spec(0.0, 'metres: nearer depth becomes NaN', low=0.0, high=1000.0),
    'max_depth': Spec(0.0, 'metres: farther depth becomes NaN; 0 = no limit', low=0.0,
                      high=1000.0),
    'queue_size': Spec(10, 'messages kept per input while they wait for their partners',
                       read_only=True, low=1, high=100),
    'input_reliability': PARAMETERS['input_reliability'],
    'input_depth': PARAMETERS['input_depth'],
    'output_reliability': PARAMETERS['output_reliability'],
    'output_depth': PARAMETERS['output_depth'],
    'diagnostics_period': PARAMETERS['diagnostics_period'],
}

# Read-only parameters that say what the mask values mean (from the model file).
CLASS_NAMES = Spec([], 'class name of each mask value (read-only, from the model)',
                   read_only=True)
CLASS_COLORS = Spec([], 'r, g, b of each class, flattened (read-only)', read_only=True)


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
    elif name == 'output_resolution' and value not in OUTPUT_RESOLUTIONS:
        return f"output_resolution must be 'image' or 'network', got '{value}'"
    elif name == 'image_transport' and value not in TRANSPORTS:
        return (f"image_transport '{value}' is not supported; supported transports: "
                f"{', '.join(TRANSPORTS)}")
    elif name == 'input_reliability' and value not in ('auto', *RELIABILITY):
        return f"{name} must be 'auto', 'best_effort' or 'reliable', got '{value}'"
    elif name == 'confidence_encoding' and value not in CONFIDENCE_ENCODINGS:
        return f"confidence_encoding must be '32FC1' or 'mono8', got '{value}'"
    elif name == 'output_reliability' and value not in RELIABILITY:
        return f"{name} must be 'best_effort' or 'reliable', got '{value}'"
    elif name == 'model_path':
        path = os.path.realpath(os.path.expanduser(value or default_model_path()))
        problem = file_problem(path)
        if problem:
            return f'model_path {problem}'
        try:
            modelfile.read_model_info(path)
        except modelfile.ModelFileError as e:
            return str(e)
    return None


def input_transport(params):
    """Return the transport the node subscribes: 'compressed' or 'raw'."""
    return 'compressed' if params['use_compressed'] else params['image_transport']


def class_parameter_mismatch(name, given, model_value, model_path):
    """Return an error when a params file set a class parameter unlike the model, else None."""
    if list(given) == list(model_value):
        return None
    return (f'parameter {name}: {list(given)} differs from the model {model_path} '
            f'({list(model_value)}); remove it from the parameters file or use a model with '
            'those classes')
