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
Start one segnet_node per camera.

ros2 launch segnet_ros multi_camera.launch.py cameras:='[front, left, right]'

Camera ``front`` is read from /front/image_raw and its outputs appear under
/front/segnet/...; all nodes share the params file, and the arguments given override it.
A bad argument, or any node that cannot start, ends the launch with a non-zero exit.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from segnet_ros.ros import launch_support as ls
import yaml

ARGUMENTS = (
    ('cameras', '[front]', 'camera namespaces as a YAML list or a comma/space separated '
     'string, e.g. [front, left, right]; camera X reads /X/<image_topic>'),
    ('image_topic', 'image_raw', 'base image topic inside each camera namespace (raw '
     'Image there, CompressedImage on <image_topic>/compressed)'),
    ('params_file', None, 'ROS parameters file shared by all nodes (YAML, /**: '
     'ros__parameters: ...)'),
    ('model_path', '', 'model file (.safetensors) for every camera; empty = the value in '
     'params_file, else the bundled CamVid model'),
    ('device', '', 'auto | cpu | cuda | cuda:N for every camera; empty = the value in '
     'params_file (auto)'),
    ('image_transport', '', 'raw | compressed for every camera; empty = the value in '
     'params_file (raw)'),
    ('use_compressed', '', 'alias: true = image_transport:=compressed'),
    ('use_camera_info', '', 'true | false: subscribe /X/camera_info and republish it with '
     'each mask; empty = the value in params_file (false)'),
    ('precision', '', 'auto | fp32 | fp16 | bf16 for every camera; empty = the value in '
     'params_file (auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)'),
    ('output_resolution', '', 'image | network: outputs at the camera frame size or at '
     'the network input size for every camera; empty = the value in params_file (image)'),
    ('test_time_flip', '', 'true | false: average each frame with its mirror image for every '
     'camera; empty = the value in params_file (false)'),
    ('log_level', 'info', 'debug | info | warn | error | fatal'),
)


def _parse_cameras(text):
    """Accept a YAML list ('[front, left]') or a comma/space separated string."""
    try:
        value = yaml.safe_load(text) if text.strip().startswith('[') \
            else text.replace(',', ' ')
    except yaml.YAMLError:
        raise ls.LaunchArgumentError('cameras', f"'{text}' is not a YAML list") from None
    names = value if isinstance(value, list) else value.split()
    names = [str(n).strip('/ ') for n in names if str(n).strip('/ ')]
    if not names:
        raise ls.LaunchArgumentError(
            'cameras', "names no camera; give at least one, e.g. cameras:='[front]'")
    if len(set(names)) != len(names):
        raise ls.LaunchArgumentError('cameras', f'names a camera twice: {names}')
    return names


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    cameras = _parse_cameras(arg['cameras'])
    params = ls.checked_node_parameters(arg)
    log_level = ls.check_log_level('log_level', arg['log_level'])
    image = arg['image_topic'].strip('/')
    actions = []
    for cam in cameras:
        node = Node(package='segnet_ros', executable='segnet_node', name='segnet',
                    namespace=cam, output='screen', parameters=params,
                    arguments=['--ros-args', '--log-level', log_level],
                    remappings=[('image', f'/{cam}/{image}'),
                                ('camera_info', f'/{cam}/camera_info')])
        actions += [node, ls.end_launch_on_failure(node, f"segnet node of camera '{cam}'")]
    return actions


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    defaults = {'params_file': os.path.join(share, 'config', 'segnet.yaml')}
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                               description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
