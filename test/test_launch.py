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

"""Launch files: a real launch test where launch_ros exists, and checks that run anywhere."""

import os
import py_compile
import threading
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, 'launch')


@pytest.mark.parametrize('name', ['segnet.launch.py', 'multi_camera.launch.py'])
def test_launch_files_compile(name):
    py_compile.compile(os.path.join(LAUNCH, name), doraise=True)


def test_params_file_sets_every_parameter_with_the_right_type():
    from segnet_ros.node import PARAMETERS
    with open(os.path.join(ROOT, 'config', 'segnet.yaml')) as f:
        params = yaml.safe_load(f)['/**']['ros__parameters']
    assert set(params) == set(PARAMETERS)
    for name, value in params.items():
        default = PARAMETERS[name][0]
        assert type(value) is type(default), name
        assert value == default, f'{name}: params file says {value}, node default {default}'


def test_segnet_launch_starts_node_and_publishes_a_mask(tmp_path):
    launch = pytest.importorskip('launch', reason='launch is not installable from PyPI here')
    pytest.importorskip('launch_ros', reason='launch_ros is not installable from PyPI here')
    import numpy as np
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from segnet_ros import conversions
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    desc = launch.LaunchDescription([launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(LAUNCH, 'segnet.launch.py')),
        launch_arguments={'image': '/launch_test/image_raw', 'namespace': 'launch_test',
                          'device': 'cpu'}.items())])
    service = launch.LaunchService()
    service.include_launch_description(desc)
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    rclpy.init()
    node = rclpy.create_node('launch_test_driver')
    got = []
    node.create_subscription(Image, '/launch_test/segnet/class_mask', got.append, 10)
    pub = node.create_publisher(Image, '/launch_test/image_raw', qos_profile_sensor_data)
    msg = conversions.numpy_to_imgmsg(np.zeros((60, 80, 3), np.uint8), 'rgb8', Image)
    try:
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            pub.publish(msg)
            rclpy.spin_once(node, timeout_sec=0.25)
        assert got, 'no mask from the launched node'
        assert (got[0].height, got[0].width) == (60, 80)
    finally:
        service.shutdown()
        runner.join(timeout=20)
        node.destroy_node()
        rclpy.shutdown()
