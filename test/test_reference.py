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
The generated reference (doc/generated) against the code and against running nodes.

A parameter, topic or diagnostics key that a node has and the reference lacks, or the other
way round, fails here and is named; so does a type, a QoS or a read-only flag that differs.
"""

import os
import subprocess
import sys
import time

import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters
from rcl_interfaces.srv import ListParameters
from rclpy.qos import DurabilityPolicy
from rclpy.qos import ReliabilityPolicy
from segnet_ros import params as P
from segnet_ros import reference as R
from test_edges import wait_output

pytestmark = pytest.mark.ros
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
         float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
INTERNAL = ('/rosout', '/parameter_events')


def test_the_committed_pages_are_what_the_code_generates():
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'gen_reference.py'),
                          '--check'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def _describe(driver, name):
    client = driver.service(ListParameters, f'/{name}/list_parameters')
    names = driver.call(client, ListParameters.Request(), resend_every=2.0).result.names
    client = driver.service(DescribeParameters, f'/{name}/describe_parameters')
    req = DescribeParameters.Request(names=list(names))
    return {d.name: d for d in driver.call(client, req, resend_every=2.0).descriptors}


def _check_parameters(described, specs, extra):
    documented = set(specs) | set(extra)
    declared = {n for n in described if not n.startswith('qos_overrides.')}
    assert declared - documented == set(), f'declared, not documented: {declared - documented}'
    assert documented - declared == set(), f'documented, not declared: {documented - declared}'
    for name, spec in specs.items():
        d = described[name]
        assert d.type == TYPES[type(spec.default)], name
        assert d.read_only == spec.read_only, name
        rng = d.integer_range or d.floating_point_range
        assert (spec.low is None) == (not rng), name
        if rng:
            assert (rng[0].from_value, rng[0].to_value) == (spec.low, spec.high), name
    overrides = [n for n in described if n.startswith('qos_overrides.')]
    assert overrides and all(n.rsplit('.', 1)[-1] in ('history', 'depth', 'reliability')
                             and n.split('.')[-2] in ('publisher', 'subscription')
                             for n in overrides), overrides


def _graph(driver, name):
    deadline = time.monotonic() + 30
    while True:
        pubs = dict(driver.node.get_publisher_names_and_types_by_node(name, '/'))
        subs = dict(driver.node.get_subscriber_names_and_types_by_node(name, '/'))
        if pubs or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return ({t: v for t, v in pubs.items() if t not in INTERNAL},
            {t: v for t, v in subs.items() if t not in INTERNAL})


def _resolve(topic, name, remaps):
    if topic.startswith('~/'):
        return f'/{name}/{topic[2:]}'
    return remaps.get(topic, '/' + topic if not topic.startswith('/') else topic)


def _check_topics(driver, name, documented, remaps, conditions):
    pubs, subs = _graph(driver, name)
    for direction, seen in (('published', pubs), ('subscribed', subs)):
        want = {_resolve(t.name, name, remaps): t for t in documented
                if t.direction == direction and (not t.when or t.when in conditions)}
        assert set(seen) - set(want) == set(), f'{direction}, not documented: ' \
            f'{set(seen) - set(want)}'
        assert set(want) - set(seen) == set(), f'documented, not {direction}: ' \
            f'{set(want) - set(seen)}'
        for topic, t in want.items():
            assert seen[topic] == [t.type], (topic, seen[topic], t.type)
            if direction == 'published':
                qos = next(i.qos_profile for i in driver.node.get_publishers_info_by_topic(
                    topic) if i.node_name == name)
                assert (qos.reliability == ReliabilityPolicy.RELIABLE) == \
                    t.qos.startswith('reliable'), topic
                assert (qos.durability == DurabilityPolicy.TRANSIENT_LOCAL) == \
                    ('transient local' in t.qos), topic


def _check_diagnostics(driver, name, documented, absent=()):
    driver.record_diagnostics()
    values = driver.wait_for(lambda: driver.latest_diagnostics(name), timeout=30)
    want = R.diagnostics_keys(documented) - set(absent)
    assert set(values) - want == set(), f'reported, not documented: {set(values) - want}'
    assert want - set(values) == set(), f'documented, not reported: {want - set(values)}'


def test_segnet_node_as_documented(start, models, driver):
    node = start({'model_path': models['a']})
    wait_output(node, 'ready:')
    _check_parameters(_describe(driver, node.name), P.PARAMETERS,
                      ('class_names', 'class_colors', 'use_sim_time',
                       'start_type_description_service'))
    remaps = {'image': node.image_topic}
    _check_topics(driver, node.name, R.SEGNET_TOPICS, remaps,
                  ('image_transport raw', 'vision_msgs installed'))
    _check_diagnostics(driver, node.name, R.SEGNET_DIAGNOSTICS, absent=('lifecycle_state',))


def test_segnet_node_with_every_optional_topic_as_documented(start, models, driver):
    node = start({'model_path': models['bayesian'], 'use_camera_info': True,
                  'image_transport': 'compressed'}, lifecycle=True)
    from lifecycle_msgs.msg import Transition
    from test_lifecycle import change
    assert change(driver, node, Transition.TRANSITION_CONFIGURE)
    assert change(driver, node, Transition.TRANSITION_ACTIVATE)
    remaps = {'image/compressed': f'{node.image_topic}/compressed',
              'camera_info': f'{node.image_topic.rsplit("/", 1)[0]}/camera_info'}
    _check_topics(driver, node.name, R.SEGNET_TOPICS, remaps,
                  ('image_transport compressed', 'use_camera_info', 'a Bayesian model',
                   'vision_msgs installed', 'the managed node'))
    _check_diagnostics(driver, node.name, R.SEGNET_DIAGNOSTICS)


def test_segnet_cloud_node_as_documented(start, driver):
    name = f'cloud_ref_{os.getpid()}'
    node = start({}, name=name, entry=['-m', 'segnet_ros.ros.entry', 'segnet_cloud_node'])
    wait_output(node, 'ready:')
    _check_parameters(_describe(driver, name), P.CLOUD_PARAMETERS,
                      ('use_sim_time', 'start_type_description_service'))
    _check_topics(driver, name, R.CLOUD_TOPICS, {}, ('use_confidence',))
    _check_diagnostics(driver, name, R.CLOUD_DIAGNOSTICS)
