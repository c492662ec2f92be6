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

"""ROS 2 conventions over real DDS: image_transport, QoS overrides, param dumps, bag replay."""

import json
import os
import re
import time

import numpy as np
from PIL import Image as PILImage
import pytest
from rcl_interfaces.srv import ListParameters
from rclpy.qos import ReliabilityPolicy
from segnet_ros import conversions
from segnet_ros.bags import tools
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image
import yaml

pytestmark = pytest.mark.ros
TOPIC = '/conv_cam/image_raw'


def frame(h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def answer(driver, node, topic, msg_type, timeout=30):
    """Publish one frame on ``topic`` until the node's class mask for it comes back."""
    mask = node.topic('class_mask')
    driver.record(mask)
    pub = driver.publisher(msg_type, topic)
    driver.wait_connected(pub, node, [mask])
    msg = conversions.numpy_to_compressed(frame(), 'png', CompressedImage) \
        if msg_type is CompressedImage else conversions.numpy_to_imgmsg(frame(), 'rgb8', Image)
    return driver.publish_until(pub, msg, lambda: driver.received[mask], timeout=timeout)


def endpoint_qos(driver, topic, node_name, kind='subscriptions', timeout=20):
    """Return the QoS of the node's subscription (or publisher) on ``topic``, from the graph."""
    info = getattr(driver.node, f'get_{kind}_info_by_topic')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = [i for i in info(topic) if i.node_name == node_name]
        if infos:
            return infos[0].qos_profile
        time.sleep(0.05)
    raise TimeoutError(f'{node_name} has no {kind} on {topic}')


@pytest.mark.parametrize('params,topic,msg_type', [
    ({}, TOPIC, Image),
    ({'image_transport': 'compressed'}, TOPIC + '/compressed', CompressedImage),
    ({'use_compressed': True}, TOPIC + '/compressed', CompressedImage),  # the alias
])
def test_remapping_image_moves_every_transport(driver, start, models, params, topic,
                                               msg_type):
    # As `segnet_node --ros-args -r image:=/conv_cam/image_raw -p image_transport:=...`.
    node = start({'model_path': models['a'], **params}, image_topic=TOPIC)
    assert answer(driver, node, topic, msg_type), node.output()
    wrong = TOPIC if msg_type is CompressedImage else TOPIC + '/compressed'
    assert not [i for i in driver.node.get_subscriptions_info_by_topic(wrong)
                if i.node_name == node.name]
    # The reader's reliability follows the camera's (input_reliability: auto).
    assert re.search(rf'input {topic} \((best-effort|reliable), following the publishers\),',
                     node.output()), node.output()


@pytest.mark.parametrize('transport', ['theora', 'compressedDepth'])
def test_unknown_transport_is_one_line_and_exit_2(start, models, transport):
    node = start({'model_path': models['a'], 'image_transport': transport})
    assert node.wait_exit(60) == 2
    lines = [ln for ln in node.output().splitlines() if ln.strip()]
    assert len(lines) == 1 and 'supported transports: raw, compressed' in lines[0], lines
    assert transport in lines[0]


def test_qos_overrides_set_what_the_node_accepts_and_offers(driver, start, models):
    name = f'segnet_qos_{os.getpid()}'
    mask = f'/{name}/class_mask'
    start({'model_path': models['a'],
           # the old parameters stay as defaults; an explicit override wins over them
           'output_reliability': 'reliable',
           f'qos_overrides.{TOPIC}.subscription.reliability': 'reliable',
           f'qos_overrides.{TOPIC}.subscription.depth': 3,
           f'qos_overrides.{mask}.publisher.reliability': 'best_effort'},
          name=name, image_topic=TOPIC)
    assert endpoint_qos(driver, TOPIC, name).reliability == ReliabilityPolicy.RELIABLE
    # Depth is not announced in discovery: the node reports what it applied.
    assert driver.get_parameters(name, f'qos_overrides.{TOPIC}.subscription.depth') == {
        f'qos_overrides.{TOPIC}.subscription.depth': 3}
    offered = endpoint_qos(driver, mask, name, 'publishers')
    assert offered.reliability == ReliabilityPolicy.BEST_EFFORT
    # What a peer sees when it matches: a best-effort camera cannot feed a reliable reader,
    # a reliable one can; a reliable subscriber cannot read a best-effort writer.
    best_effort_cam = driver.publisher(Image, TOPIC, reliable=False)
    reliable_cam = driver.publisher(Image, TOPIC, reliable=True)
    driver.record(mask)  # reliable
    deadline = time.monotonic() + 20
    while reliable_cam.get_subscription_count() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert best_effort_cam.get_subscription_count() == 0
    assert [s for s in driver.node.subscriptions if s.topic_name == mask][0] \
        .get_publisher_count() == 0
    defaults = start({'model_path': models['a']}, image_topic='/conv_cam2/image_raw')
    assert endpoint_qos(driver, '/conv_cam2/image_raw', defaults.name).reliability == \
        ReliabilityPolicy.BEST_EFFORT  # input_reliability's default, the sensor-data QoS


def test_invalid_qos_override_is_refused_naming_the_parameter(start, models):
    node = start({'model_path': models['a'],
                  f'qos_overrides.{TOPIC}.subscription.reliability': 'sometimes'},
                 image_topic=TOPIC)
    assert node.wait_exit(60) == 2
    assert 'Traceback' not in node.output()
    lines = [ln for ln in node.output().splitlines() if 'error' in ln]
    assert len(lines) == 1, lines
    assert f'qos_overrides.{TOPIC}.subscription' in lines[0] and 'sometimes' in lines[0]


def dump_parameters(driver, node_name):
    """Return what `ros2 param dump` writes, produced the same way: the parameter services."""
    client = driver.service(ListParameters, f'/{node_name}/list_parameters')
    names = sorted(driver.call(client, ListParameters.Request(),
                               resend_every=2.0).result.names)
    values = {k: list(v) if hasattr(v, 'tolist') else v  # array('q') -> list, as the CLI
              for k, v in driver.get_parameters(node_name, *names).items()}
    tree = {}
    for name in names:
        *parents, leaf = name.split('.')
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = values[name]
    return {f'/{node_name}': {'ros__parameters': tree}}, values


def test_a_parameter_dump_loads_back_unchanged(driver, start, models, tmp_path):
    params = {'model_path': models['a'], 'overlay_alpha': 0.3, 'image_transport': 'compressed',
              f'qos_overrides.{TOPIC}/compressed.subscription.reliability': 'reliable'}
    first = start(params, image_topic=TOPIC)
    driver.wait_connected(driver.publisher(CompressedImage, TOPIC + '/compressed'), first)
    dump, values = dump_parameters(driver, first.name)
    assert 'class_names' in values and values['overlay_alpha'] == 0.3
    assert values[f'qos_overrides.{TOPIC}/compressed.subscription.reliability'] == 'reliable'
    path = tmp_path / 'p.yaml'
    path.write_text(yaml.safe_dump(dump))
    assert first.stop() == 0
    again = start({}, name=first.name, image_topic=TOPIC, ros_args=['--params-file', str(path)])
    driver.wait_connected(driver.publisher(CompressedImage, TOPIC + '/compressed'), again)
    _, reloaded = dump_parameters(driver, again.name)
    assert reloaded == values


def test_class_parameters_unlike_the_model_are_refused_at_start(start, models, tmp_path):
    path = tmp_path / 'p.yaml'
    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': {
        'class_names': ['road', 'sky', 'car', 'person']}}}))
    node = start({'model_path': models['a']}, ros_args=['--params-file', str(path)])
    assert node.wait_exit(60) == 2
    lines = [ln for ln in node.output().splitlines() if ln.strip()]
    assert len(lines) == 1 and 'parameter class_names' in lines[0], lines


def make_bag(tmp_path, compressed=None, n=4):
    """Write a labelled bag: /cam/image_raw (or its /compressed), /cam/labels, at 10 Hz."""
    root = tmp_path / 'ds'
    for sub in ('val', 'valannot'):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        PILImage.fromarray(frame(48, 64, i)).save(root / 'val' / f'f{i}.png')
        PILImage.fromarray(np.full((48, 64), i % 4, np.uint8)).save(
            root / 'valannot' / f'f{i}.png')
    bag = tmp_path / 'bag'
    tools.dataset_to_bag(str(root), 'val', str(bag), fps=10.0, compressed=compressed,
                         image_topic='/cam/image_raw', label_topic='/cam/labels',
                         progress=False, start_ns=1_000 * 10**9)
    return str(bag)


def replay(bag, out, *extra):
    return tools.main(['replay', bag, '--label-topic', '/cam/labels', '--out', str(out),
                       '--settle', '5', *extra])


def test_replay_publishes_on_the_bags_own_topic_and_remaps(start, models, tmp_path):
    bag = make_bag(tmp_path, compressed='png')
    own = start({'model_path': models['a'], 'image_transport': 'compressed',
                 'input_reliability': 'reliable'}, image_topic='/cam/image_raw')
    assert replay(bag, tmp_path / 'own', '--image-topic', '/cam/image_raw/compressed',
                  '--mask-topic', own.topic('class_mask'), '--model', models['a']) == 0
    with open(tmp_path / 'own' / 'metrics.json') as f:
        assert json.load(f)['outputs_received'] == 4
    moved = start({'model_path': models['a'], 'image_transport': 'compressed',
                   'input_reliability': 'reliable'}, image_topic='/other/image_raw')
    assert replay(bag, tmp_path / 'moved', '--image-topic', '/cam/image_raw/compressed',
                  '--remap', '/cam/image_raw/compressed:=/other/image_raw/compressed',
                  '--mask-topic', moved.topic('class_mask'), '--model', models['a']) == 0
    with open(tmp_path / 'moved' / 'metrics.json') as f:
        assert json.load(f)['outputs_received'] == 4


def test_remap_without_separator_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tools.main(['replay', str(tmp_path), '--remap', '/a/b'])
    assert e.value.code == 2
    assert "'/a/b' is not a remapping OLD:=NEW" in capsys.readouterr().err


def test_sim_time_node_runs_on_the_replay_clock_and_keeps_its_diagnostics(
        driver, start, models, tmp_path):
    bag = make_bag(tmp_path)
    node = start({'model_path': models['a'], 'use_sim_time': True,
                  'input_reliability': 'reliable', 'diagnostics_period': 0.3},
                 image_topic='/cam/image_raw')
    driver.record_diagnostics()
    assert replay(bag, tmp_path / 'sim', '--image-topic', '/cam/image_raw', '--clock',
                  '--mask-topic', node.topic('class_mask'), '--model', models['a']) == 0
    with open(tmp_path / 'sim' / 'metrics.json') as f:
        assert json.load(f)['outputs_received'] == 4
    # /clock has stopped at the bag's end; diagnostics keep coming on the steady clock, and
    # their stamps are bag time (1000.0 .. 1000.3 s), not wall time.
    with driver.cond:
        seen = len(driver.diagnostics)
    assert driver.wait_for(lambda: len([a for a in driver.diagnostics[seen:] for s in a.status
                                        if f'/{node.name}:' in s.name]) >= 3, timeout=10)
    with driver.cond:
        ours = [a for a in driver.diagnostics[seen:] for s in a.status
                if f'/{node.name}:' in s.name]
    assert all(999 <= a.header.stamp.sec <= 1001 for a in ours), [
        a.header.stamp.sec for a in ours]
