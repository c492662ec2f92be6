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
Start segnet_node on one camera.

ros2 launch segnet_ros segnet.launch.py image:=/camera/image_raw device:=cuda
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.conditions import UnlessCondition
from launch.substitutions import LaunchConfiguration
from launch.substitutions import PythonExpression
from launch_ros.actions import Node


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    args = [
        DeclareLaunchArgument('image', default_value='/camera/image_raw',
                              description='input image topic (raw sensor_msgs/Image); with '
                              'use_compressed the node subscribes <image>/compressed'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera_info',
                              description='camera_info topic (used when use_camera_info)'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='model file (.safetensors); empty = bundled model'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'segnet.yaml'),
                              description='ROS parameters file (/**: ros__parameters)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace for the node and its outputs'),
        DeclareLaunchArgument('node_name', default_value='segnet'),
        DeclareLaunchArgument('device', default_value='auto',
                              description="'auto', 'cpu', 'cuda' or 'cuda:N'"),
        DeclareLaunchArgument('use_compressed', default_value='false',
                              description='subscribe CompressedImage on <image>/compressed'),
        DeclareLaunchArgument('log_level', default_value='info'),
    ]
    # Arguments given on the command line override the params file.
    overrides = {'device': LaunchConfiguration('device'),
                 'use_compressed': PythonExpression(
                     ["'", LaunchConfiguration('use_compressed'), "'.lower() == 'true'"])}
    model = PythonExpression(["'", LaunchConfiguration('model_path'), "' != ''"])
    common = dict(package='segnet_ros', executable='segnet_node',
                  name=LaunchConfiguration('node_name'),
                  namespace=LaunchConfiguration('namespace'), output='screen',
                  arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
                  remappings=[('image', LaunchConfiguration('image')),
                              ('image/compressed', [LaunchConfiguration('image'),
                                                    '/compressed']),
                              ('camera_info', LaunchConfiguration('camera_info'))])
    nodes = [
        Node(**common, condition=IfCondition(model),
             parameters=[LaunchConfiguration('params_file'), overrides,
                         {'model_path': LaunchConfiguration('model_path')}]),
        Node(**common, condition=UnlessCondition(model),
             parameters=[LaunchConfiguration('params_file'), overrides]),
    ]
    return LaunchDescription(args + nodes)
