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
/front/segnet/...; all nodes share the params file and device.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
import yaml


def _parse_cameras(text):
    """Accept a YAML list ('[front, left]') or a comma/space separated string."""
    value = yaml.safe_load(text) if text.strip().startswith('[') else text.replace(',', ' ')
    names = value if isinstance(value, list) else value.split()
    names = [str(n).strip('/ ') for n in names if str(n).strip('/ ')]
    if not names:
        raise RuntimeError("cameras must name at least one camera, e.g. cameras:='[front]'")
    return names


def _nodes(context):
    cameras = _parse_cameras(LaunchConfiguration('cameras').perform(context))
    image = LaunchConfiguration('image_topic').perform(context)
    params = [LaunchConfiguration('params_file').perform(context),
              {'device': LaunchConfiguration('device').perform(context)}]
    model = LaunchConfiguration('model_path').perform(context)
    if model:
        params.append({'model_path': model})
    return [Node(package='segnet_ros', executable='segnet_node', name='segnet',
                 namespace=cam, output='screen', parameters=params,
                 remappings=[('image', f'/{cam}/{image}'),
                             ('image/compressed', f'/{cam}/{image}/compressed'),
                             ('camera_info', f'/{cam}/camera_info')])
            for cam in cameras]


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    return LaunchDescription([
        DeclareLaunchArgument('cameras', default_value='[front]',
                              description='camera namespaces, e.g. "[front, left, right]"'),
        DeclareLaunchArgument('image_topic', default_value='image_raw',
                              description='image topic inside each camera namespace'),
        DeclareLaunchArgument('model_path', default_value=''),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'segnet.yaml')),
        DeclareLaunchArgument('device', default_value='auto'),
        OpaqueFunction(function=_nodes),
    ])
