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
Launch files: the real LaunchService where launch_ros exists, and checks that run anywhere.

LaunchService must run in the main thread; the ROS peer that feeds frames and checks topics
runs in a thread beside it and ends the launch when it is done.
"""

import json
import os
import py_compile
import threading
import time

import pytest
from segnet_ros.ros import launch_support as ls
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, 'launch')
LAUNCH_FILES = sorted(f for f in os.listdir(LAUNCH) if f.endswith('.launch.py'))


@pytest.mark.parametrize('name', LAUNCH_FILES)
def test_launch_files_compile(name):
    py_compile.compile(os.path.join(LAUNCH, name), doraise=True)


def test_params_file_sets_every_parameter_with_the_right_type():
    from segnet_ros.params import PARAMETERS
    with open(os.path.join(ROOT, 'config', 'segnet.yaml')) as f:
        params = yaml.safe_load(f)['/**']['ros__parameters']
    assert set(params) == set(PARAMETERS)
    for name, value in params.items():
        default = PARAMETERS[name].default
        assert type(value) is type(default), name
        assert value == default, f'{name}: params file says {value}, node default {default}'


# ---- argument checks (plain Python) ----------------------------------------------------------
def test_argument_checks_name_the_argument(tmp_path):
    for check, text in [(ls.check_device, 'gpu'), (ls.check_device, 'cuda:x'),
                        (ls.check_log_level, 'bogus'), (ls.parse_bool, 'maybe')]:
        with pytest.raises(ls.LaunchArgumentError, match=r'^launch argument arg: '):
            check('arg', text)
    assert ls.check_device('d', '') == '' and ls.check_device('d', 'cuda:1') == 'cuda:1'
    assert ls.check_log_level('l', 'WARN') == 'warn'
    assert ls.parse_bool('b', 'True') is True and ls.parse_bool('b', 'off') is False
    with pytest.raises(ls.LaunchArgumentError, match='no such model file'):
        ls.check_file('model_path', str(tmp_path / 'missing.safetensors'), 'model file')
    with pytest.raises(ls.LaunchArgumentError, match='not a regular file'):
        ls.check_file('model_path', str(tmp_path))


def test_a_missing_or_folder_model_path_reads_the_same_wherever_it_is_checked(tmp_path):
    from segnet_ros import modelfile
    from segnet_ros.params import check_parameter
    for path, said in ((str(tmp_path / 'missing.safetensors'), 'no such model file'),
                       (str(tmp_path), 'not a regular file')):
        wording = f'{path}: {said}'
        with pytest.raises(ls.LaunchArgumentError) as launch:
            ls.check_file('model_path', path, 'model file')
        with pytest.raises(modelfile.ModelFileError) as reader:
            modelfile.read_model_info(path)
        node = check_parameter('model_path', path)
        assert wording in str(launch.value) and str(reader.value) == wording
        assert node == f'model_path {wording}'


def test_params_file_check_refuses_missing_non_yaml_and_non_parameter_files(tmp_path):
    good = tmp_path / 'good.yaml'
    good.write_text('/**:\n  ros__parameters:\n    device: cpu\n')
    assert ls.check_params_file('params_file', str(good)) == str(good)
    cases = {'missing.yaml': (None, 'no such parameters file'),
             'broken.yaml': ('a: [1, 2\n', 'not valid YAML'),
             'list.yaml': ('- 1\n- 2\n', 'not a ROS parameters file'),
             'plain.yaml': ('device: cpu\n', 'not a ROS parameters file')}
    for name, (text, error) in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(ls.LaunchArgumentError, match=error):
            ls.check_params_file('params_file', str(tmp_path / name))


def test_precision_output_resolution_and_flip_arguments_are_checked_as_the_node_checks_them():
    base = {'params_file': os.path.join(ROOT, 'config', 'segnet.yaml'), 'model_path': '',
            'device': '', 'image_transport': '', 'use_compressed': '', 'use_camera_info': ''}
    given = ls.checked_node_parameters({**base, 'precision': 'fp32',
                                        'output_resolution': 'network',
                                        'test_time_flip': 'True'})[1]
    assert given == {'precision': 'fp32', 'output_resolution': 'network',
                     'test_time_flip': True}
    # Left empty (or not declared by a launch file): the params file's values stand.
    assert ls.checked_node_parameters(base)[1] == {}
    for name, text in [('precision', 'fp64'), ('output_resolution', 'camera'),
                       ('test_time_flip', 'sometimes')]:
        with pytest.raises(ls.LaunchArgumentError, match=f'^launch argument {name}: '):
            ls.checked_node_parameters({**base, name: text})


def test_only_given_arguments_override_the_params_file():
    params = ls.node_parameters('/p.yaml', {'device': '', 'use_compressed': False,
                                            'model_path': '/m.safetensors'})
    assert params == ['/p.yaml', {'use_compressed': False, 'model_path': '/m.safetensors'}]


# ---- the real launch ---------------------------------------------------------------------
def _launch_modules():
    launch = pytest.importorskip('launch', reason='launch_ros not importable: launch missing')
    pytest.importorskip('launch_ros', reason='launch_ros not importable')
    return launch


def run_launch(file, arguments, peer=None, timeout=180.0):
    """
    Run ``file`` with ``arguments`` in this (main) thread; ``peer()`` runs beside it.

    The launch ends when the peer returns (or raises), or by itself. Returns the launch's
    return code; a peer's exception is raised here.
    """
    launch = _launch_modules()
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    service = launch.LaunchService()
    service.include_launch_description(launch.LaunchDescription([
        launch.actions.IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(LAUNCH, file)),
            launch_arguments=list(arguments.items()))]))
    errors = []
    done = threading.Event()

    def side():
        try:
            if peer is not None:
                peer()
        except BaseException as e:  # noqa: B902 - handed to the main thread
            errors.append(e)
        finally:
            done.set()
            if peer is not None:
                service.shutdown()

    def watchdog():
        if not done.wait(timeout):
            errors.append(TimeoutError(f'{file} did not finish in {timeout} s'))
            service.shutdown()

    threads = [threading.Thread(target=side, daemon=True),
               threading.Thread(target=watchdog, daemon=True)]
    for t in threads:
        t.start()
    code = service.run()
    done.set()
    for t in threads:
        t.join(timeout=30)
    if errors:
        raise errors[0]
    return code


@pytest.fixture
def driver_factory():
    drivers = []

    def make():
        from segnet_ros.ros.peer import Peer
        d = Peer()
        drivers.append(d)
        return d
    yield make
    for d in drivers:
        d.close()


def _answer(driver, image_topic, mask_topic, shape=(60, 80), timeout=90.0):
    """Publish frames on ``image_topic`` until a mask comes on ``mask_topic``; return it."""
    import numpy as np
    from segnet_ros import conversions
    from sensor_msgs.msg import Image

    driver.record(mask_topic)
    pub = driver.publisher(Image, image_topic)
    deadline = time.monotonic() + timeout
    while pub.get_subscription_count() == 0:
        assert time.monotonic() < deadline, f'nothing subscribed to {image_topic}'
        time.sleep(0.05)
    msg = conversions.numpy_to_imgmsg(np.zeros((*shape, 3), np.uint8), 'rgb8', Image)
    assert driver.publish_until(pub, msg, lambda: driver.received[mask_topic],
                                timeout=deadline - time.monotonic()), \
        f'no mask on {mask_topic}'
    return driver.received[mask_topic][0][1]


def test_defaults_answer_with_a_mask(driver_factory):
    def peer():
        mask = _answer(driver_factory(), '/camera/image_raw', '/segnet/class_mask')
        assert (mask.height, mask.width) == (60, 80)
    assert run_launch('segnet.launch.py', {}, peer) == 0


def test_namespace_node_name_and_image_remap_give_the_documented_topics(driver_factory):
    def peer():
        d = driver_factory()
        _answer(d, '/cam_x/image_color', '/robot/seg_front/class_mask')
        names = dict(d.node.get_topic_names_and_types())
        for out in ('color_mask', 'overlay', 'confidence', 'class_info'):
            assert f'/robot/seg_front/{out}' in names, sorted(names)
    assert run_launch('segnet.launch.py', {'namespace': 'robot', 'node_name': 'seg_front',
                                           'image': '/cam_x/image_color'}, peer) == 0


def test_lifecycle_autostarts_once_and_a_manual_deactivate_sticks(driver_factory):
    from lifecycle_msgs.msg import State
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from lifecycle_msgs.srv import GetState

    def peer():
        d = driver_factory()
        _answer(d, '/camera/image_raw', '/segnet/class_mask')
        get = d.service(GetState, '/segnet/get_state', timeout=30)

        def state():
            return d.call(get, GetState.Request(), resend_every=2.0).current_state.id
        assert state() == State.PRIMARY_STATE_ACTIVE
        req = ChangeState.Request()
        req.transition = Transition(id=Transition.TRANSITION_DEACTIVATE)
        assert d.call(d.service(ChangeState, '/segnet/change_state'), req).success
        # The old handler re-activated at once; give it the time to do so.
        for _ in range(10):
            time.sleep(0.3)
            assert state() == State.PRIMARY_STATE_INACTIVE
    assert run_launch('segnet.launch.py', {'lifecycle': 'true'}, peer) == 0


def test_params_file_values_hold_unless_an_argument_is_given(tmp_path, driver_factory):
    params = tmp_path / 'my.yaml'
    params.write_text('/**:\n  ros__parameters:\n    device: cpu\n'
                      '    image_transport: compressed\n    overlay_alpha: 0.25\n')

    def peer_with(expected):
        def peer():
            d = driver_factory()
            deadline = time.monotonic() + 60
            while d.node.count_subscribers(expected['topic']) == 0:
                assert time.monotonic() < deadline, f"nothing subscribes {expected['topic']}"
                time.sleep(0.05)
            got = d.get_parameters('segnet', *expected['params'])
            assert got == expected['params']
        return peer
    file_only = {'topic': '/camera/image_raw/compressed',
                 'params': {'device': 'cpu', 'image_transport': 'compressed',
                            'overlay_alpha': 0.25}}
    assert run_launch('segnet.launch.py', {'params_file': str(params)},
                      peer_with(file_only)) == 0
    given = {'topic': '/camera/image_raw',
             'params': {'device': 'auto', 'image_transport': 'raw', 'overlay_alpha': 0.25,
                        'precision': 'fp32', 'output_resolution': 'network',
                        'test_time_flip': True}}
    assert run_launch('segnet.launch.py', {'params_file': str(params), 'device': 'auto',
                                           'image_transport': 'raw', 'precision': 'fp32',
                                           'output_resolution': 'network',
                                           'test_time_flip': 'true'},
                      peer_with(given)) == 0


@pytest.mark.parametrize('arguments,error', [
    ({'params_file': '/does/not/exist.yaml'}, 'launch argument params_file'),
    ({'device': 'gpu'}, 'launch argument device'),
    ({'log_level': 'bogus'}, 'launch argument log_level'),
    ({'model_path': os.path.dirname(ROOT)}, 'launch argument model_path'),
    ({'params_file': os.path.join(ROOT, 'README.md')}, 'launch argument params_file'),
    ({'lifecycle': 'maybe'}, 'launch argument lifecycle'),
    ({'image_transport': 'theora'}, 'launch argument image_transport'),
    ({'precision': 'fp64'}, 'launch argument precision'),
    ({'device': 'cuda:7'}, 'exited with code 2'),  # no such device here: the node refuses
])
def test_bad_arguments_end_the_launch_non_zero(arguments, error, caplog):
    assert run_launch('segnet.launch.py', arguments) == 1
    assert error in caplog.text, caplog.text
    # Nothing is left running: every process the launch started has ended.
    assert 'process started' not in caplog.text or 'process has died' in caplog.text


def test_bad_camera_list_ends_the_multi_camera_launch(caplog):
    assert run_launch('multi_camera.launch.py', {'cameras': '[front, front]'}) == 1
    assert 'launch argument cameras' in caplog.text, caplog.text


def test_multi_camera_gives_each_camera_its_own_topics(driver_factory):
    def peer():
        d = driver_factory()
        for cam in ('cam_a', 'cam_b'):
            _answer(d, f'/{cam}/image_raw', f'/{cam}/segnet/class_mask')
    assert run_launch('multi_camera.launch.py', {'cameras': '[cam_a, cam_b]',
                                                 'device': 'cpu'}, peer) == 0


def test_replay_eval_on_its_default_bag_writes_a_report(tmp_path):
    out = tmp_path / 'report'
    assert run_launch('replay_eval.launch.py', {'out': str(out), 'rate': '2.0'},
                      timeout=300) == 0
    assert (out / 'report.md').is_file()
    with open(out / 'metrics.json') as f:
        assert json.load(f)['outputs_received'] > 0


def test_cloud_true_starts_the_cloud_node_wired_to_the_segnet_node(driver_factory):
    def peer():
        d = driver_factory()
        deadline = time.monotonic() + 120
        while d.node.count_publishers('/segnet_cloud/points') == 0 or \
                d.node.count_subscribers('/segnet/class_mask') == 0:
            assert time.monotonic() < deadline, 'no /segnet_cloud/points'
            time.sleep(0.1)
        want = {'/segnet/class_mask', '/segnet/confidence', '/segnet/class_info',
                '/segnet/camera_info', '/depth/image', '/depth/info'}
        subs = {}
        while not want <= set(subs):
            assert time.monotonic() < deadline, subs
            try:
                subs = dict(d.node.get_subscriber_names_and_types_by_node('segnet_cloud', '/'))
            except Exception:  # noqa: B902 - not in the graph yet (rclpy's NodeNameNonExistent)
                pass
            time.sleep(0.1)
    assert run_launch('segnet.launch.py', {'cloud': 'true', 'depth': '/depth/image',
                                           'depth_camera_info': '/depth/info'}, peer) == 0


def _ros2_launch(*args, log):
    """Start ``ros2 launch`` in its own process group, as a terminal does; return it."""
    pytest.importorskip('ros2launch', reason='launch_ros not importable: ros2launch missing')
    import signal
    import subprocess
    import sys
    return subprocess.Popen(
        [sys.executable, '-c', 'import sys; from ros2cli.cli import main; sys.exit(main())',
         'launch', 'segnet_ros', *args], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _ctrl_c(proc, log_path, when, after=0.0):
    """Wait for ``when(log text)`` and ``after`` s, then SIGINT the group (Ctrl-C); rc, log."""
    import signal
    deadline = time.monotonic() + 120
    while not when(open(log_path).read()):
        assert proc.poll() is None and time.monotonic() < deadline, open(log_path).read()
        time.sleep(0.01)
    time.sleep(after)
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=60)
    return code, open(log_path).read()


def _stream(driver, image_topic, mask_topic, hz=30.0, shape=(360, 480)):
    """Publish frames at ``hz`` in a thread until the returned event is set."""
    import threading

    import numpy as np
    from segnet_ros import conversions
    from sensor_msgs.msg import Image

    driver.record(mask_topic)
    pub = driver.publisher(Image, image_topic)
    msg = conversions.numpy_to_imgmsg(np.zeros((*shape, 3), np.uint8), 'rgb8', Image)
    stop = threading.Event()
    stop.answered = lambda: bool(driver.received[mask_topic])

    def publish():
        while not stop.wait(1.0 / hz):
            pub.publish(msg)
    threading.Thread(target=publish, daemon=True).start()
    return stop


@pytest.mark.parametrize('moment', ['importing', 'loading', 'streaming'])
def test_ctrl_c_under_ros2_launch_at_any_moment_exits_0_quietly(tmp_path, moment,
                                                                driver_factory):
    log_path = tmp_path / 'launch.log'
    with open(log_path, 'w') as log:
        proc = _ros2_launch('segnet.launch.py', 'device:=cpu', log=log)
        stop = None
        if moment == 'streaming':  # a camera at 30 Hz, 480x360; Ctrl-C once masks come back
            stop = _stream(driver_factory(), '/camera/image_raw', '/segnet/class_mask')
        when = {'importing': lambda t: 'segnet_node-1' in t and 'process started' in t,
                'loading': lambda t: 'loading ' in t,
                'streaming': lambda t: stop.answered()}[moment]
        # 'importing': 0.15 s after the start, inside torch's import. Before that is the
        # interpreter's own start (~80 ms here), where no Python program has a handler yet.
        try:
            code, text = _ctrl_c(proc, log_path, when,
                                 after=0.15 if moment == 'importing' else 0)
        finally:
            if stop:
                stop.set()
    assert code == 0, text
    assert 'Traceback' not in text and 'process has died' not in text, text
    assert '[ERROR]' not in text, text
    if moment == 'importing':  # the signal landed before the ready line
        assert 'interrupted during start-up (importing)' in text and 'ready:' not in text, text


def test_ctrl_c_during_replay_eval_ends_the_launch_with_0(tmp_path):
    log_path = tmp_path / 'launch.log'
    out = tmp_path / 'report'
    with open(log_path, 'w') as log:
        proc = _ros2_launch('replay_eval.launch.py', f'out:={out}', 'rate:=0.2', log=log)
        code, text = _ctrl_c(proc, log_path, lambda t: 'segnet_replay' in t and 'ready:' in t)
    assert code == 0, text
    assert 'Caught exception' not in text and 'Traceback' not in text, text
    assert '[ERROR]' not in text and 'process has died' not in text, text
