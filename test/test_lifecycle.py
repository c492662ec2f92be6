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

"""The managed (lifecycle) node driven through its real lifecycle services."""

import os
import shutil
import signal
import time

from conftest import bad_model_files
from conftest import humble_api_entry
from lifecycle_msgs.msg import State
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from lifecycle_msgs.srv import GetState
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from segnet_ros.ros.peer import NodeProcess
from segnet_ros.ros.peer import Peer
from sensor_msgs.msg import Image
from test_node import assert_clean_shutdown
from test_node import image_msg
from test_node import send_shutdown
from test_node import SHUTDOWN_SIGNALS
from test_node import stamps

pytestmark = pytest.mark.ros


def change(driver, node, transition):
    client = driver.service(ChangeState, f'/{node.name}/change_state', timeout=30)
    req = ChangeState.Request()
    req.transition = Transition(id=transition)
    return driver.call(client, req, timeout=60).success


def state(driver, node):
    client = driver.service(GetState, f'/{node.name}/get_state', timeout=30)
    return driver.call(client, GetState.Request(), resend_every=2.0).current_state.id


def wait_graph(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize('api', ['native', 'humble'])
def test_lifecycle_transitions(tmp_path, models, api):
    driver = Peer()
    node = NodeProcess({'model_path': models['a']}, log_dir=str(tmp_path), lifecycle=True,
                       entry=humble_api_entry('main_lifecycle') if api == 'humble' else None)
    mask = node.topic('class_mask')
    try:
        assert state(driver, node) == State.PRIMARY_STATE_UNCONFIGURED
        pub = driver.publisher(Image, node.image_topic)
        assert driver.node.count_publishers(mask) == 0
        # configure: model and publishers, no subscription yet
        assert change(driver, node, Transition.TRANSITION_CONFIGURE)
        assert state(driver, node) == State.PRIMARY_STATE_INACTIVE
        assert wait_graph(lambda: driver.node.count_publishers(mask) == 1)
        assert pub.get_subscription_count() == 0
        # activate: subscribes and segments
        driver.record(mask)
        assert change(driver, node, Transition.TRANSITION_ACTIVATE)
        assert state(driver, node) == State.PRIMARY_STATE_ACTIVE
        assert wait_graph(lambda: pub.get_subscription_count() == 1)
        assert driver.publish_until(pub, image_msg(1), lambda: (1001, 124) in stamps(
            driver, mask)), node.output()
        # deactivate: unsubscribed, publishers stay
        assert change(driver, node, Transition.TRANSITION_DEACTIVATE)
        assert wait_graph(lambda: pub.get_subscription_count() == 0)
        assert driver.node.count_publishers(mask) == 1
        # cleanup: publishers and model released
        assert change(driver, node, Transition.TRANSITION_CLEANUP)
        assert state(driver, node) == State.PRIMARY_STATE_UNCONFIGURED
        assert wait_graph(lambda: driver.node.count_publishers(mask) == 0)
        # and it can come back
        assert change(driver, node, Transition.TRANSITION_CONFIGURE)
        assert change(driver, node, Transition.TRANSITION_ACTIVATE)
        assert driver.publish_until(pub, image_msg(2), lambda: (1002, 125) in stamps(
            driver, mask)), node.output()
        # a model swap while active
        assert driver.set_parameters(node.name, model_path=models['b'])[0].successful
        assert wait_graph(lambda: f'model swapped in: {models["b"]}' in node.output(), 30), \
            node.output()
        assert driver.publish_until(pub, image_msg(3), lambda: (1003, 126) in stamps(
            driver, mask)), node.output()
        assert node.proc.poll() is None
        assert ('rclpy as on Humble' in node.output()) == (api == 'humble')
    finally:
        code = node.stop(signal.SIGINT)
        driver.close()
    assert_clean_shutdown(node, code)


@pytest.mark.parametrize('how', sorted(SHUTDOWN_SIGNALS))
def test_signals_shut_down_the_active_managed_node_cleanly(tmp_path, models, how):
    driver = Peer()
    node = NodeProcess({'model_path': models['a']}, log_dir=str(tmp_path), lifecycle=True)
    mask = node.topic('class_mask')
    try:
        pub = driver.publisher(Image, node.image_topic)
        driver.record(mask)
        assert change(driver, node, Transition.TRANSITION_CONFIGURE)
        assert change(driver, node, Transition.TRANSITION_ACTIVATE)
        assert driver.publish_until(pub, image_msg(3), lambda: (1003, 126) in stamps(
            driver, mask)), node.output()
        code = send_shutdown(node, SHUTDOWN_SIGNALS[how])
    finally:
        node.stop(signal.SIGKILL)
        driver.close()
    assert_clean_shutdown(node, code)


def test_configure_fails_cleanly_on_a_bad_model(tmp_path, models):
    driver = Peer()
    bad = tmp_path / 'bad.safetensors'
    node = NodeProcess({'model_path': models['a']}, log_dir=str(tmp_path), lifecycle=True)
    try:
        assert state(driver, node) == State.PRIMARY_STATE_UNCONFIGURED
        # The file is valid at construction and broken by the time configure runs.
        shutil.copy(models['a'], bad)
        res = driver.set_parameters(node.name, model_path=str(bad))[0]
        assert res.successful
        bad.write_bytes(b'\x00' * 64)
        assert not change(driver, node, Transition.TRANSITION_CONFIGURE)
        assert state(driver, node) == State.PRIMARY_STATE_UNCONFIGURED
        assert 'configure failed' in node.output() and 'bad.safetensors' in node.output()
        assert node.proc.poll() is None
        assert driver.set_parameters(node.name, model_path=models['a'])[0].successful
        assert change(driver, node, Transition.TRANSITION_CONFIGURE)
    finally:
        node.stop(signal.SIGINT)
        driver.close()
    assert 'Traceback' not in node.output()


def test_configure_fails_for_every_kind_of_bad_model_file(tmp_path, models):
    (tmp_path / 'bad').mkdir()
    files = bad_model_files(tmp_path / 'bad', models['a'])
    target = tmp_path / 'model.safetensors'
    shutil.copy(models['a'], target)
    driver = Peer()
    node = NodeProcess({'model_path': str(target)}, log_dir=str(tmp_path), lifecycle=True)
    try:
        assert state(driver, node) == State.PRIMARY_STATE_UNCONFIGURED
        for name, path in files.items():
            # The file passed the parameter check and is swapped underneath before configure.
            if target.exists() or target.is_symlink():
                target.unlink()
            if name == 'missing':
                pass
            elif name == 'directory':
                target.mkdir()
            elif name == 'unreadable':
                shutil.copy(models['a'], target)
                os.chmod(target, 0)
            else:
                shutil.copy(path, target)
            assert not change(driver, node, Transition.TRANSITION_CONFIGURE), name
            assert state(driver, node) == State.PRIMARY_STATE_UNCONFIGURED, name
            if target.is_dir():
                target.rmdir()
        failures = [ln for ln in node.output().splitlines() if 'configure failed' in ln]
        assert len(failures) == len(files), node.output()
        shutil.copy(models['a'], target)
        assert change(driver, node, Transition.TRANSITION_CONFIGURE)
        assert node.proc.poll() is None
    finally:
        node.stop(signal.SIGINT)
        driver.close()
    assert 'Traceback' not in node.output()


def test_inactive_node_publishes_no_image_but_keeps_diagnostics_and_class_info(models):
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from segnet_ros.ros.node import SegnetLifecycleNode
    from std_msgs.msg import String

    driver = Peer()
    name = f'segnet_inactive_{os.getpid()}'
    node = SegnetLifecycleNode(name, parameter_overrides=[
        Parameter('model_path', value=models['a']), Parameter('device', value='cpu'),
        Parameter('diagnostics_period', value=0.2)])
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    mask = f'/{name}/class_mask'
    try:
        driver.record(mask)
        driver.record(f'/{name}/class_info', String, latched=True)
        driver.record_diagnostics()
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert wait_graph(lambda: node.outputs.images['class_mask'].get_subscription_count() == 1)
        # A frame processed while inactive (e.g. in flight at deactivate) publishes nothing.
        assert node._process(node.segmenter, image_msg(4), 0.0)
        assert driver.wait_for(lambda: driver.received[f'/{name}/class_info'], timeout=10)
        assert driver.wait_for(lambda: (driver.latest_diagnostics(name) or {}).get(
            'lifecycle_state') == 'inactive', timeout=10)
        assert not driver.wait_for(lambda: driver.received[mask], timeout=1.0)
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert node._process(node.segmenter, image_msg(5), 0.0)
        assert driver.wait_for(lambda: driver.received[mask], timeout=10)
        assert (driver.received[mask][0][1].header.stamp.sec == 1005)
        assert driver.wait_for(lambda: driver.latest_diagnostics(name).get(
            'lifecycle_state') == 'active', timeout=10)
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node._process(node.segmenter, image_msg(6), 0.0)
        time.sleep(1.0)
        assert [m.header.stamp.sec for _, m in driver.received[mask]] == [1005]
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        node.close()
        node.destroy_node()
        driver.close()
        if rclpy.ok():
            rclpy.shutdown()
