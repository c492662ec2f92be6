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
ros2 launch segnet_ros segnet.launch.py lifecycle:=true   # managed node, brought to active once
ros2 launch segnet_ros segnet.launch.py cloud:=true depth:=/camera/depth/image_rect_raw \
    depth_camera_info:=/camera/depth/camera_info         # + a labelled PointCloud2

Parameters come from ``params_file``; an argument given on the command line overrides the
file, an argument left empty keeps the file's value. A bad argument or a node that cannot
start ends the launch with one line and a non-zero exit.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.actions import Node
from segnet_ros.ros import launch_support as ls

# name, default, description. An empty default means "keep the value in params_file".
ARGUMENTS = (
    ('image', '/camera/image_raw', 'input base topic, as image_transport names it: raw '
     'Image on <image>, CompressedImage on <image>/compressed'),
    ('camera_info', '/camera/camera_info', 'camera_info topic, subscribed when '
     'use_camera_info is true'),
    ('params_file', None, 'ROS parameters file (YAML, /**: ros__parameters: ...); a missing '
     'or invalid file ends the launch'),
    ('model_path', '', 'model file (.safetensors); empty = the value in params_file, else '
     'the bundled CamVid model'),
    ('device', '', 'auto | cpu | cuda | cuda:N; empty = the value in params_file (auto)'),
    ('image_transport', '', 'raw | compressed: the input transport; empty = the value in '
     'params_file (raw)'),
    ('use_compressed', '', 'alias: true = image_transport:=compressed'),
    ('use_camera_info', '', 'true | false: subscribe camera_info and republish it scaled '
     'with each mask as ~/camera_info; empty = the value in params_file (false)'),
    ('namespace', '', 'namespace of the node and its outputs (<namespace>/<node_name>/...)'),
    ('node_name', 'segnet', 'node name; outputs are published under ~/ (e.g. '
     '/<node_name>/class_mask)'),
    ('precision', '', 'auto | fp32 | fp16 | bf16; empty = the value in params_file '
     '(auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)'),
    ('output_resolution', '', 'image | network: outputs at the camera frame size or at '
     'the network input size; empty = the value in params_file (image)'),
    ('test_time_flip', '', 'true | false: average each frame with its mirror image; '
     'empty = the value in params_file (false)'),
    ('log_level', 'info', 'debug | info | warn | error | fatal'),
    ('lifecycle', 'false', 'true: start the managed node (segnet_lifecycle_node) and bring it '
     'to active once; a later deactivate by hand sticks'),
    ('confidence_encoding', '', '32FC1 | mono8: ~/confidence as 0..1 floats or 0..255 bytes '
     '(costmap layers read mono8); empty = the value in params_file (32FC1)'),
    ('cloud', 'false', 'true: also start segnet_cloud_node (<node_name>_cloud), which joins '
     'the registered depth image with the class mask and confidence into a labelled '
     'PointCloud2 on /<node_name>_cloud/points'),
    ('depth', '/camera/depth/image_rect_raw', 'with cloud:=true: the depth image registered '
     'to the camera (16UC1 in mm or 32FC1 in m)'),
    ('depth_camera_info', '/camera/depth/camera_info', "with cloud:=true: the depth image's "
     'camera_info'),
    ('cloud_params_file', None, "with cloud:=true: segnet_cloud_node's parameters file (slop, "
     'stride, valid_only, depth range, ...)'),
)


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    params = ls.checked_node_parameters(arg)
    log_level = ls.check_log_level('log_level', arg['log_level'])
    lifecycle = ls.parse_bool('lifecycle', arg['lifecycle'])
    image = arg['image']
    common = {'package': 'segnet_ros', 'name': arg['node_name'],
              'namespace': arg['namespace'], 'output': 'screen',
              'parameters': params,
              'arguments': ['--ros-args', '--log-level', log_level],
              'remappings': [('image', image), ('camera_info', arg['camera_info'])]}
    what = f"segnet node '{arg['node_name']}'"
    actions = _cloud(arg, log_level) if ls.parse_bool('cloud', arg['cloud']) else []
    if not lifecycle:
        node = Node(executable='segnet_node', **common)
        return [node, ls.end_launch_on_failure(node, what), *actions]
    node = LifecycleNode(executable='segnet_lifecycle_node', **common)
    return [node, ls.end_launch_on_failure(node, what), *ls.autostart_lifecycle(node, what),
            *actions]


def _cloud(arg, log_level):
    """segnet_cloud_node beside the segnet node, wired to its outputs."""
    ns = arg['namespace'].strip('/')
    base = f"/{ns}/{arg['node_name']}" if ns else f"/{arg['node_name']}"
    name = f"{arg['node_name']}_cloud"
    node = Node(package='segnet_ros', executable='segnet_cloud_node', name=name,
                namespace=arg['namespace'], output='screen',
                parameters=[ls.check_params_file('cloud_params_file', arg['cloud_params_file'])],
                arguments=['--ros-args', '--log-level', log_level],
                remappings=[('class_mask', f'{base}/class_mask'),
                            ('confidence', f'{base}/confidence'),
                            ('class_info', f'{base}/class_info'),
                            ('mask_camera_info', f'{base}/camera_info'),
                            ('depth', arg['depth']),
                            ('depth_camera_info', arg['depth_camera_info'])])
    return [node, ls.end_launch_on_failure(node, f"cloud node '{name}'")]


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    defaults = {'params_file': os.path.join(share, 'config', 'segnet.yaml'),
                'cloud_params_file': os.path.join(share, 'config', 'segnet_cloud.yaml')}
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                               description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
