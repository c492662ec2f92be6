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
ros2 launch segnet_ros segnet.launch.py lifecycle:=true   # managed node, brought to active
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import EmitEvent
from launch.actions import OpaqueFunction
from launch.actions import RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.actions import Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

ARGUMENTS = (
    ('image', '/camera/image_raw', 'input image topic (sensor_msgs/Image); with '
     'use_compressed the node subscribes <image>/compressed'),
    ('camera_info', '/camera/camera_info', 'camera_info topic (used when use_camera_info)'),
    ('model_path', '', 'model file (.safetensors); empty = the params file, else bundled'),
    ('params_file', None, 'ROS parameters file (/**: ros__parameters)'),
    ('namespace', '', 'namespace for the node and its outputs'),
    ('node_name', 'segnet', 'node name'),
    ('device', 'auto', "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ('use_compressed', 'false', 'subscribe CompressedImage on <image>/compressed'),
    ('log_level', 'info', 'ROS log level'),
    ('lifecycle', 'false', 'start the managed node and bring it to active'),
)


def _truthy(text):
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    # Arguments given on the command line override the params file; an empty model_path
    # leaves the file's value alone.
    overrides = {'device': arg['device'], 'use_compressed': _truthy(arg['use_compressed'])}
    if arg['model_path']:
        overrides['model_path'] = arg['model_path']
    image = arg['image']
    common = {'package': 'segnet_ros', 'name': arg['node_name'],
              'namespace': arg['namespace'], 'output': 'screen',
              'parameters': [arg['params_file'], overrides],
              'arguments': ['--ros-args', '--log-level', arg['log_level']],
              'remappings': [('image', image), ('image/compressed', image + '/compressed'),
                             ('camera_info', arg['camera_info'])]}
    if not _truthy(arg['lifecycle']):
        return [Node(executable='segnet_node', **common)]
    managed = LifecycleNode(executable='segnet_lifecycle_node', **common)

    def transition(tid):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(managed),
                                           transition_id=tid))
    return [managed,
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=managed, goal_state='inactive',
                entities=[transition(Transition.TRANSITION_ACTIVATE)])),
            transition(Transition.TRANSITION_CONFIGURE)]


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    defaults = {'params_file': os.path.join(share, 'config', 'segnet.yaml')}
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                               description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
