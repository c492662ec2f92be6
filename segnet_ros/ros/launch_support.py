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
What the launch files share: argument checks, parameter layering, ending the launch on errors.

The checks are plain Python (tested without launch); the rest imports launch / launch_ros
only when a launch file calls it. A check that fails raises ``LaunchArgumentError``: launch
prints it as one line ("Caught exception in launch ...: launch argument X: ..."), shuts
down and ``ros2 launch`` exits 1.
"""

import os
import re

import yaml

from ..params import check_parameter
from ..paths import file_problem

LOG_LEVELS = ('debug', 'info', 'warn', 'warning', 'error', 'fatal')
TRUE, FALSE = ('true', '1', 'yes', 'on'), ('false', '0', 'no', 'off')
_DEVICE = re.compile(r'^(auto|cpu|cuda(:\d+)?)$')


class LaunchArgumentError(RuntimeError):
    """A launch argument has a value the launch cannot use."""

    def __init__(self, name, problem):
        super().__init__(f'launch argument {name}: {problem}')


def parse_bool(name, text):
    """Return the boolean a launch argument spells; refuse anything else."""
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise LaunchArgumentError(name, f"'{text}' is not true or false")


def check_device(name, text):
    """Accept '' (keep the params file's value), auto, cpu, cuda or cuda:N."""
    if text and not _DEVICE.match(text):
        raise LaunchArgumentError(name, f"'{text}' is not one of auto, cpu, cuda, cuda:N")
    return text


def check_transport(name, text, use_compressed=''):
    """Return raw, compressed or '' (keep the params file's value); use_compressed is an alias."""
    if use_compressed and parse_bool('use_compressed', use_compressed):
        return 'compressed'
    return check_choice(name, text)


def check_bool(name, text):
    """Accept '' (keep the params file's value) or a boolean; return '' or the boolean."""
    return parse_bool(name, text) if text else ''


def check_choice(name, text):
    """Accept '' (keep the params file's value) or a value the node parameter ``name`` takes."""
    error = check_parameter(name, text) if text else None
    if error:
        raise LaunchArgumentError(name, error)
    return text


def check_log_level(name, text):
    """Return the log level, lower case; refuse what rcutils does not know."""
    if text.strip().lower() not in LOG_LEVELS:
        raise LaunchArgumentError(name, f"'{text}' is not one of {', '.join(LOG_LEVELS)}")
    return text.strip().lower()


def check_file(name, text, what='file'):
    """Accept '' (not given) or an existing regular file; return the expanded path."""
    if not text:
        return text
    path = os.path.expanduser(text)
    problem = file_problem(path, what)
    if problem:
        raise LaunchArgumentError(name, problem)
    return path


def check_params_file(name, text):
    """Accept an existing YAML file mapping node names to ros__parameters."""
    path = check_file(name, text, 'parameters file')
    if not path:
        raise LaunchArgumentError(name, 'empty; give a parameters file (YAML)')
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise LaunchArgumentError(name, f'{path}: cannot be read ({e})') from None
    except yaml.YAMLError as e:
        where = getattr(e, 'problem_mark', None)
        line = f' (line {where.line + 1})' if where else ''
        raise LaunchArgumentError(name, f'{path}: not valid YAML{line}') from None
    if not isinstance(data, dict) or not all(
            isinstance(v, dict) and 'ros__parameters' in v for v in data.values()):
        raise LaunchArgumentError(
            name, f'{path}: not a ROS parameters file (expected <node name>: '
                  '{ros__parameters: {...}})')
    return path


def node_parameters(params_file, given):
    """
    Return the parameters for a node: the params file, then only the arguments the user gave.

    ``given`` maps parameter names to values where '' means "not given": such a value never
    overwrites what the params file says.
    """
    return [params_file, {k: v for k, v in given.items() if v != ''}]


def checked_node_parameters(arg):
    """
    Check the node arguments the launch files share; return the node's parameters list.

    ``arg`` maps argument names to their text: params_file, model_path, device,
    image_transport, use_compressed, use_camera_info, precision, output_resolution,
    test_time_flip. Empty (or absent) ones keep the file's values.
    """
    given = {
        'model_path': check_file('model_path', arg['model_path'], 'model file'),
        'device': check_device('device', arg['device']),
        'image_transport': check_transport('image_transport', arg['image_transport'],
                                           arg['use_compressed']),
        'use_camera_info': check_bool('use_camera_info', arg['use_camera_info']),
        'precision': check_choice('precision', arg.get('precision', '')),
        'output_resolution': check_choice('output_resolution',
                                          arg.get('output_resolution', '')),
        'test_time_flip': check_bool('test_time_flip', arg.get('test_time_flip', '')),
        'confidence_encoding': check_choice('confidence_encoding',
                                            arg.get('confidence_encoding', '')),
    }
    return node_parameters(check_params_file('params_file', arg['params_file']), given)


def end_launch_on_failure(action, what):
    """
    Return an event handler that ends the launch, non-zero, when ``action`` exits with an error.

    A node that cannot start (a bad model, ``device:=cuda`` without CUDA) exits 2 with one
    line of its own; without this the rest of the launch would run on and exit 0.
    """
    from launch.actions import OpaqueFunction
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit

    def on_exit(event, context):
        if event.returncode == 0 or context.is_shutdown:
            return None

        def fail(_context):
            raise RuntimeError(f'{what} exited with code {event.returncode}; see its error '
                               'above')
        return [OpaqueFunction(function=fail)]

    return RegisterEventHandler(OnProcessExit(target_action=action, on_exit=on_exit))


def autostart_lifecycle(node, what):
    """
    Bring a launch_ros LifecycleNode to active once, as ``lifecycle:=true`` promises.

    Activation follows the end of *configure* only (start state 'configuring'), so a later
    ``ros2 lifecycle set ... deactivate``, which also ends in 'inactive', sticks. A failed
    configure ends the launch.
    """
    from launch.actions import EmitEvent
    from launch.actions import OpaqueFunction
    from launch.actions import RegisterEventHandler
    from launch.events import matches_action
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    def transition(tid):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=tid))

    def fail(_context):
        raise RuntimeError(f'{what} failed to configure; see its error above')

    return [
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
            entities=[transition(Transition.TRANSITION_ACTIVATE)], handle_once=True)),
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state='configuring', goal_state='unconfigured',
            entities=[OpaqueFunction(function=fail)], handle_once=True)),
        transition(Transition.TRANSITION_CONFIGURE),
    ]
