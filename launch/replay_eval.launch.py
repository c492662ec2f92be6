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
Start segnet_node and score it live by replaying a bag into it.

ros2 launch segnet_ros replay_eval.launch.py bag:=/path/to/bag rate:=1.0

The replay publishes the bag's image topic, records the node's masks, pairs them with the
bag's ground truth by header stamp and writes a report; the launch ends when it is done.
"""

import os
import sys

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import EmitEvent
from launch.actions import ExecuteProcess
from launch.actions import RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    cfg = LaunchConfiguration
    replay = ExecuteProcess(
        cmd=[sys.executable, '-m', 'segnet_ros.bags.tools', 'replay', cfg('bag'),
             '--image-topic', cfg('bag_image_topic'), '--label-topic', cfg('bag_label_topic'),
             '--publish-topic', '/segnet_replay/image_raw',
             '--mask-topic', '/segnet/class_mask', '--rate', cfg('rate'),
             '--out', cfg('out'), '--model', cfg('model_path')],
        output='screen')
    return LaunchDescription([
        DeclareLaunchArgument('bag', default_value=os.path.join(share, 'data',
                                                                'camvid_val_sample')),
        DeclareLaunchArgument('bag_image_topic', default_value='/camera/image_raw'),
        DeclareLaunchArgument('bag_label_topic', default_value='/camera/labels'),
        DeclareLaunchArgument('rate', default_value='1.0', description='factor on bag time'),
        DeclareLaunchArgument('out', default_value='segnet_replay_report'),
        DeclareLaunchArgument('model_path', default_value=os.path.join(
            share, 'models', 'segnet_camvid_light.safetensors')),
        DeclareLaunchArgument('device', default_value='auto'),
        Node(package='segnet_ros', executable='segnet_node', name='segnet', output='screen',
             parameters=[{'model_path': cfg('model_path'), 'device': cfg('device')}],
             remappings=[('image', '/segnet_replay/image_raw')]),
        replay,
        RegisterEventHandler(OnProcessExit(target_action=replay,
                                           on_exit=[EmitEvent(event=Shutdown())])),
    ])
