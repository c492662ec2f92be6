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
bag's ground truth by header stamp and writes a report; the launch ends when it is done,
with the replay's exit code. A bad argument or a node that cannot start ends it at once.
"""

import os

from ament_index_python.packages import get_package_prefix
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import EmitEvent
from launch.actions import ExecuteProcess
from launch.actions import OpaqueFunction
from launch.actions import RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from segnet_ros.ros import launch_support as ls

# The node reads this topic and the replay publishes on it; nothing else uses it.
REPLAY_TOPIC = '/segnet_replay/image_raw'
# segnet_bag's exit code after Ctrl-C, with its report and bag closed: a clean stop, which
# launch would log as an ERROR ('process has died') under its default of 130.
INTERRUPTED = 0

ARGUMENTS = (
    ('bag', None, 'rosbag2 folder (or .db3 / .mcap file) to replay; default: the bundled '
     'CamVid sample (share/segnet_ros/data/camvid_val_sample)'),
    ('bag_image_topic', '', 'image topic in the bag (Image or CompressedImage); empty = '
     'its only image topic'),
    ('bag_label_topic', '', 'ground-truth mask topic in the bag (mono8); empty = one named '
     'like *label* / *mask* whose stamps match, else none (label-free figures only)'),
    ('rate', '1.0', 'replay speed as a factor on bag time (2.0 = twice as fast)'),
    ('out', 'segnet_replay_report', 'report folder (created; relative to the working '
     'directory)'),
    ('model_path', None, 'model file (.safetensors) the node runs and the report names; '
     'default: the bundled CamVid model'),
    ('device', 'auto', 'auto | cpu | cuda | cuda:N'),
    ('log_level', 'info', "the node's log level: debug | info | warn | error | fatal"),
)


def _actions(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    if not os.path.exists(os.path.expanduser(arg['bag'])):
        raise ls.LaunchArgumentError('bag', f"{arg['bag']}: no such bag")
    model = ls.check_file('model_path', arg['model_path'], 'model file')
    device = ls.check_device('device', arg['device']) or 'auto'
    log_level = ls.check_log_level('log_level', arg['log_level'])
    try:
        if float(arg['rate']) <= 0:
            raise ValueError
    except ValueError:
        raise ls.LaunchArgumentError('rate', f"'{arg['rate']}' is not a positive number") \
            from None
    node = Node(package='segnet_ros', executable='segnet_node', name='segnet', output='screen',
                parameters=[{'model_path': model, 'device': device}],
                arguments=['--ros-args', '--log-level', log_level],
                remappings=[('image', REPLAY_TOPIC)])
    # The installed segnet_bag, as ros2 run starts it (its signal handlers are in place
    # before its imports).
    replay = ExecuteProcess(
        cmd=[os.path.join(get_package_prefix('segnet_ros'), 'lib', 'segnet_ros', 'segnet_bag'),
             'replay',
             os.path.expanduser(arg['bag']),
             *(['--image-topic', arg['bag_image_topic']] if arg['bag_image_topic'] else []),
             *(['--label-topic', arg['bag_label_topic']] if arg['bag_label_topic'] else []),
             '--publish-topic', REPLAY_TOPIC,
             '--mask-topic', '/segnet/class_mask', '--rate', arg['rate'],
             '--out', arg['out'], '--model', model,
             '--interrupted-exit-code', str(INTERRUPTED)],
        name='segnet_replay', output='screen')

    def replay_done(event, _context):
        if event.returncode == INTERRUPTED:  # finished, or stopped by Ctrl-C
            return [EmitEvent(event=Shutdown(reason='replay ended'))]

        def fail(_ctx):
            raise RuntimeError(f'the replay exited with code {event.returncode}; see its '
                               'error above')
        return [OpaqueFunction(function=fail)]

    return [node, ls.end_launch_on_failure(node, 'segnet node'), replay,
            RegisterEventHandler(OnProcessExit(target_action=replay, on_exit=replay_done))]


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('segnet_ros')
    defaults = {'bag': os.path.join(share, 'data', 'camvid_val_sample'),
                'model_path': os.path.join(share, 'models', 'segnet_camvid_light.safetensors')}
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                               description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_actions)])
