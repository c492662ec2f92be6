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
The fallbacks for rclpy API that Humble (rclpy 3.3) lacks, on this venv's rclpy.

The node itself runs with that API removed in ``test_node.py`` (model swaps) and
``test_lifecycle.py``; here the post-set callback's fallback is checked call by call.
"""

import os

import pytest
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from segnet_ros.ros.interfaces import add_post_set_parameters_callback

pytestmark = pytest.mark.ros


class HumbleNode(Node):
    """A node whose rclpy has no post-set parameters callback, as on Humble."""

    add_post_set_parameters_callback = None


@pytest.fixture
def node():
    if not rclpy.ok():
        rclpy.init()
    n = HumbleNode(f'humble_api_{os.getpid()}')
    yield n
    n.destroy_node()


def test_post_set_callback_runs_after_values_are_stored(node):
    node.declare_parameter('a', 1)
    node.declare_parameter('b', 'x')
    node.add_on_set_parameters_callback(lambda ps: SetParametersResult(
        successful=all(p.value != 'refused' for p in ps), reason='refused'))
    seen = []

    def after(params):
        # Stored already: what the node reads back is the new value.
        seen.append([(p.name, p.value, node.get_parameter(p.name).value) for p in params])
    add_post_set_parameters_callback(node, after)
    results = node.set_parameters([Parameter('a', value=2), Parameter('b', value='y')])
    assert [r.successful for r in results] == [True, True]
    assert seen == [[('a', 2, 2)], [('b', 'y', 'y')]]  # once per parameter, as on Iron+
    seen.clear()
    assert node.set_parameters_atomically([Parameter('a', value=3),
                                           Parameter('b', value='z')]).successful
    assert seen == [[('a', 3, 3), ('b', 'z', 'z')]]
    seen.clear()
    # Refused: nothing stored, no callback.
    assert not node.set_parameters([Parameter('b', value='refused')])[0].successful
    assert not node.set_parameters_atomically([Parameter('b', value='refused')]).successful
    assert seen == [] and node.get_parameter('b').value == 'z'


def test_the_native_callback_is_used_where_rclpy_has_it():
    if not rclpy.ok():
        rclpy.init()
    n = Node(f'iron_api_{os.getpid()}')
    try:
        n.declare_parameter('a', 1)
        seen = []
        add_post_set_parameters_callback(n, lambda ps: seen.append([p.value for p in ps]))
        assert 'set_parameters' not in vars(n)  # the public setters are not wrapped
        n.set_parameters([Parameter('a', value=5)])
        assert seen == [[5]]
    finally:
        n.destroy_node()
