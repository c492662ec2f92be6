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

"""Integration tests: the real segnet_node process, real DDS, real rclpy peers."""

import json
import os
import signal
import time

from builtin_interfaces.msg import Time
from conftest import bad_model_files
from conftest import humble_api_entry
import numpy as np
import pytest
from segnet_ros import conversions
from segnet_ros.inference import cpu_has_native_bf16
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_msgs.msg import String

pytestmark = pytest.mark.ros
NUM_CLASSES = 4


def header(i, frame_id='cam_test'):
    return Header(stamp=Time(sec=1000 + i, nanosec=123 + i), frame_id=frame_id)


def frame(h=50, w=70, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def image_msg(i, rgb=None, frame_id='cam_test'):
    rgb = frame(seed=i) if rgb is None else rgb
    return conversions.numpy_to_imgmsg(rgb, 'rgb8', Image, header=header(i, frame_id))


def stamps(driver, topic):
    with driver.cond:
        return [(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in
                driver.received.get(topic, [])]


def test_outputs_keep_header_and_class_range(driver, start, models):
    node = start({'model_path': models['a']})
    outs = ['class_mask', 'color_mask', 'overlay', 'confidence']
    for o in outs:
        driver.record(node.topic(o))
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node, [node.topic(o) for o in outs])
    rgb = frame(50, 70, seed=5)
    assert driver.publish_until(pub, image_msg(7, rgb, 'front_cam'), lambda: all(
        driver.received[node.topic(o)] for o in outs)), node.output()
    got = {o: driver.received[node.topic(o)][0][1] for o in outs}
    for o, msg in got.items():
        assert msg.header.stamp.sec == 1007 and msg.header.stamp.nanosec == 130, o
        assert msg.header.frame_id == 'front_cam', o
        assert (msg.height, msg.width) == (50, 70), o
    mask = conversions.imgmsg_to_numpy(got['class_mask'])
    assert got['class_mask'].encoding == 'mono8'
    assert mask.max() < NUM_CLASSES
    color = conversions.imgmsg_to_numpy(got['color_mask'])
    info = json.loads(_class_info(driver, node).data)
    palette = np.array(info['class_colors'], np.uint8)
    np.testing.assert_array_equal(color, palette[mask])
    overlay = conversions.imgmsg_to_numpy(got['overlay']).astype(int)
    expected = np.floor(rgb * 0.5 + palette[mask] * 0.5 + 0.5)
    assert np.abs(overlay - expected).max() <= 1
    conf = conversions.imgmsg_to_numpy(got['confidence'])
    assert got['confidence'].encoding == '32FC1'
    assert conf.min() >= 1.0 / NUM_CLASSES - 1e-5 and conf.max() <= 1.0 + 1e-5


def _class_info(driver, node):
    topic = node.topic('class_info')
    driver.record(topic, String, latched=True)
    assert driver.wait_for(lambda: driver.received[topic]), 'no latched class_info'
    return driver.received[topic][-1][1]


def test_class_info_latched_and_read_only_parameters(driver, start, models):
    node = start({'model_path': models['a']})
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node)
    info = json.loads(_class_info(driver, node).data)
    assert info['class_names'] == [f'class{i}' for i in range(NUM_CLASSES)]
    params = driver.get_parameters(node.name, 'class_names', 'class_colors')
    assert list(params['class_names']) == info['class_names']
    assert list(params['class_colors']) == [v for c in info['class_colors'] for v in c]
    res = driver.set_parameters(node.name, class_names=['x', 'y', 'z', 'w'])
    assert not res[0].successful


def test_only_subscribed_and_enabled_outputs_are_computed(driver, start, models):
    node = start({'model_path': models['a']})
    driver.record_diagnostics()
    mask_topic, overlay_topic = node.topic('class_mask'), node.topic('overlay')
    driver.record(mask_topic)
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node, [mask_topic])
    assert driver.publish_until(pub, image_msg(1), lambda: driver.received[mask_topic])
    assert driver.wait_for(lambda: (driver.latest_diagnostics(node.name) or {}).get(
        'last_outputs') == 'mask', timeout=5), driver.latest_diagnostics(node.name)

    # Subscribing to the overlay adds it; disabling it at run time removes it again.
    driver.record(overlay_topic)
    driver.wait_connected(pub, node, [overlay_topic])
    time.sleep(0.2)  # let the node see the new subscriber (discovery is asynchronous)
    assert driver.publish_until(pub, image_msg(2), lambda: driver.received[overlay_topic])
    assert driver.wait_for(lambda: (driver.latest_diagnostics(node.name) or {}).get(
        'last_outputs') == 'mask,overlay', timeout=5)
    assert driver.set_parameters(node.name, publish_overlay=False)[0].successful
    n_overlay = len(driver.received[overlay_topic])
    assert driver.publish_until(pub, image_msg(3),
                                lambda: (1003, 126) in stamps(driver, mask_topic))
    assert driver.wait_for(lambda: (driver.latest_diagnostics(node.name) or {}).get(
        'last_outputs') == 'mask', timeout=5)
    assert len(driver.received[overlay_topic]) == n_overlay


def test_no_inference_without_subscribers(driver, start, models):
    node = start({'model_path': models['a']})
    driver.record_diagnostics()
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node)

    def idle_counted():
        d = driver.latest_diagnostics(node.name) or {}
        return int(d.get('frames_received', 0)) >= 5 and d
    # Discovery is asynchronous: keep sending until the node has seen five frames.
    deadline = time.monotonic() + 20
    i = 0
    while not driver.wait_for(idle_counted, timeout=0.1) and time.monotonic() < deadline:
        pub.publish(image_msg(i))
        i += 1
    d = driver.wait_for(idle_counted, timeout=3)
    assert d, driver.latest_diagnostics(node.name)
    assert d['frames_processed'] == '0'
    assert int(d['frames_without_subscribers']) + int(d['frames_dropped']) == \
        int(d['frames_received'])


def test_slow_model_never_builds_a_backlog(driver, start, models):
    # fp32: slower than the camera on every CPU (bf16 would halve its time where native)
    node = start({'model_path': models['slow'], 'input_reliability': 'reliable',
                  'input_depth': 10, 'precision': 'fp32'})
    driver.record_diagnostics()
    topic = node.topic('class_mask')
    driver.record(topic)
    pub = driver.publisher(Image, node.image_topic, depth=10)
    driver.wait_connected(pub, node, [topic])
    sent = {}
    rgb = frame(240, 320, seed=1)
    t_end = time.monotonic() + 4.0
    i = 0
    while time.monotonic() < t_end:
        msg = image_msg(i, rgb)
        sent[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = (i, time.monotonic())
        pub.publish(msg)
        i += 1
        time.sleep(1 / 30)
    n_sent = i
    driver.wait_for(lambda: False, timeout=3.0)  # let the last frame finish
    with driver.cond:
        outs = [(t, (m.header.stamp.sec, m.header.stamp.nanosec))
                for t, m in driver.received[topic]]
    assert len(outs) >= 2, node.output()
    assert len(outs) < n_sent / 2, 'the model is fast enough that nothing was dropped'
    latencies = [t - sent[s][1] for t, s in outs]
    index = [sent[s][0] for _, s in outs]
    assert index == sorted(index)
    gaps = np.diff([t for t, _ in outs])
    infer = float(np.median(gaps))
    # A queue would make latency grow with every frame; newest-only keeps it near one
    # inference time (plus one frame interval and DDS time).
    assert max(latencies) < 3 * infer + 0.5, (latencies, infer)
    assert index[-1] >= n_sent - 1 - int(30 * (2 * infer + 0.3)), (index, n_sent)
    d = driver.wait_for(lambda: driver.latest_diagnostics(node.name), timeout=5)
    assert int(d['frames_dropped']) > 0


def test_bad_parameters_at_startup_exit_with_one_line(start, models, tmp_path):
    cases = {
        'overlay_alpha': {'model_path': models['a'], 'overlay_alpha': 2.0},
        'device': {'model_path': models['a'], 'device': 'cuda:7'},
        'precision': {'model_path': models['a'], 'precision': 'fp64'},
        'model_path': {'model_path': str(tmp_path / 'missing.safetensors')},
        'input_reliability': {'model_path': models['a'], 'input_reliability': 'sometimes'},
    }
    for name, params in cases.items():
        node = start(params)
        code = node.wait_exit(60)
        out = node.output()
        assert code == 2, (name, code, out)
        assert 'Traceback' not in out, out
        errors = [line for line in out.splitlines() if line.startswith('segnet_node: error:')]
        assert len(errors) == 1 and name in errors[0], (name, out)


def test_device_auto_without_cuda_warns_and_runs_on_the_cpu(start, models, monkeypatch):
    # Hide any GPU from the nodes (they inherit the environment), so that the test means
    # the same on a machine with CUDA.
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '')
    warning = "device 'auto': no CUDA device available, running on the CPU"
    nodes = {device: start({'model_path': models['a'], 'device': device})
             for device in ('auto', 'cpu')}
    deadline = time.monotonic() + 120
    while not all('ready: model' in n.output() for n in nodes.values()):
        for device, n in nodes.items():
            assert n.proc.poll() is None, (device, n.output())
        assert time.monotonic() < deadline, {d: n.output() for d, n in nodes.items()}
        time.sleep(0.2)
    auto, cpu = nodes['auto'].output(), nodes['cpu'].output()
    assert [line for line in auto.splitlines() if warning in line], auto
    assert 'WARN' in next(line for line in auto.splitlines() if warning in line), auto
    # precision auto: bf16 where the CPU has it natively (read from its flags), else fp32
    dtype = 'bfloat16' if cpu_has_native_bf16() else 'float32'
    assert f' on cpu {dtype} ' in auto and f' on cpu {dtype} ' in cpu, (auto, cpu)
    assert warning not in cpu, cpu


def test_bad_model_files_exit_with_one_line(start, models, tmp_path):
    (tmp_path / 'bad').mkdir()
    files = bad_model_files(tmp_path / 'bad', models['a'])
    assert {'missing', 'corrupt', 'pickle', 'other architecture', 'truncated'} <= set(files)
    # Three at a time: each process imports torch, and the CI machine has two cores.
    names, nodes = list(files), {}
    for i in range(0, len(names), 3):
        batch = {name: start({'model_path': files[name]}) for name in names[i:i + 3]}
        for node in batch.values():
            node.wait_exit(120)
        nodes.update(batch)
    for name, node in nodes.items():
        code = node.wait_exit(10)
        out = node.output()
        assert code == 2, (name, code, out)
        assert 'Traceback' not in out, (name, out)
        errors = [line for line in out.splitlines() if line.startswith('segnet_node: error:')]
        assert len(errors) == 1, (name, out)
        # The resolved path is named (a directory is named as itself).
        assert os.path.realpath(files[name]) in errors[0], (name, errors)
    assert 'refusing to unpickle' in nodes['pickle'].output()
    assert 'tensors do not match a segnet_basic' in nodes['other architecture'].output()


def test_bad_runtime_parameters_are_refused(driver, start, models, tmp_path):
    node = start({'model_path': models['a']})
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node)
    res = driver.set_parameters(node.name, overlay_alpha=1.5)[0]
    assert not res.successful
    assert driver.get_parameters(node.name, 'overlay_alpha')['overlay_alpha'] == 0.5
    res = driver.set_parameters(node.name, precision='fp64')[0]
    assert not res.successful and 'precision' in res.reason
    res = driver.set_parameters(node.name, input_depth=5)[0]
    assert not res.successful  # QoS is fixed after start-up (read-only)
    res = driver.set_parameters(node.name, overlay_alpha=0.25)[0]
    assert res.successful
    assert driver.get_parameters(node.name, 'overlay_alpha')['overlay_alpha'] == 0.25


@pytest.mark.parametrize('api', ['native', 'humble'])
def test_runtime_model_swap_and_refusals(driver, start, models, tmp_path, api):
    # 'humble': values applied only after they are accepted, without the post-set callback.
    node = start({'model_path': models['a']},
                 entry=humble_api_entry() if api == 'humble' else None)
    driver.record_diagnostics()
    topic = node.topic('class_mask')
    driver.record(topic)
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node, [topic])

    def model_in_use():
        return (driver.latest_diagnostics(node.name) or {}).get('model')

    assert driver.wait_for(lambda: model_in_use() == models['a'])
    # A file that is not a model is refused at once; the old model keeps running.
    garbage = tmp_path / 'garbage.safetensors'
    garbage.write_bytes(b'\x00' * 100)
    res = driver.set_parameters(node.name, model_path=str(garbage))[0]
    assert not res.successful and 'garbage.safetensors' in res.reason
    # A valid model is loaded in the background and swapped in.
    assert driver.set_parameters(node.name, model_path=models['b'])[0].successful
    assert driver.wait_for(lambda: model_in_use() == models['b'], timeout=30), node.output()
    assert driver.publish_until(pub, image_msg(11), lambda: (1011, 134) in stamps(driver, topic))
    # A model with another class set is refused after loading; the parameter reverts.
    assert driver.set_parameters(node.name, model_path=models['other_classes'])[0].successful
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if driver.get_parameters(node.name, 'model_path')['model_path'] == models['b']:
            break
        time.sleep(0.2)
    assert driver.get_parameters(node.name, 'model_path')['model_path'] == models['b']
    assert 'class set' in node.output()
    assert driver.publish_until(pub, image_msg(12), lambda: (1012, 135) in stamps(driver, topic))
    assert model_in_use() == models['b']
    # The next good swap works after a refusal.
    assert driver.set_parameters(node.name, model_path=models['a'])[0].successful
    assert driver.wait_for(lambda: model_in_use() == models['a'], timeout=30), node.output()
    assert driver.get_parameters(node.name, 'model_path')['model_path'] == models['a']
    assert driver.publish_until(pub, image_msg(13), lambda: (1013, 136) in stamps(driver, topic))
    assert 'Traceback' not in node.output()
    assert ('rclpy as on Humble' in node.output()) == (api == 'humble'), node.output()


def test_rejected_frames_are_counted_and_node_goes_on(driver, start, models):
    node = start({'model_path': models['a'], 'max_image_pixels': 1_000_000,
                  'input_reliability': 'reliable', 'input_depth': 10})
    driver.record_diagnostics()
    topic = node.topic('class_mask')
    driver.record(topic)
    pub = driver.publisher(Image, node.image_topic, depth=10)
    driver.wait_connected(pub, node, [topic])
    # Handshake with a valid frame so that the reliable bad frames below are all delivered.
    assert driver.publish_until(pub, image_msg(0), lambda: (1000, 123) in stamps(driver, topic))
    bad = [
        Image(header=header(1), height=10, width=10, encoding='rgb8', step=30, data=b'\x00'),
        Image(header=header(2), height=10, width=10, encoding='nope', step=30,
              data=b'\x00' * 300),
        # Complete data, so only max_image_pixels (1,000,000) can refuse it.
        Image(header=header(3), height=1000, width=1001, encoding='mono8', step=1001,
              data=b'\x00' * 1001000),
    ]
    for msg in bad:
        pub.publish(msg)
        driver.wait_for(lambda: False, timeout=0.3)  # one at a time: newest-only input
    assert driver.publish_until(pub, image_msg(4), lambda: (1004, 127) in stamps(driver, topic)
                                ), node.output()
    d = driver.wait_for(lambda: (driver.latest_diagnostics(node.name) or {}).get(
        'frames_rejected') == '3' and driver.latest_diagnostics(node.name), timeout=5)
    assert d, driver.latest_diagnostics(node.name)
    assert (d['frames_rejected_data'], d['frames_rejected_encoding'],
            d['frames_rejected_too_large']) == ('1', '1', '1'), d
    out = node.output()
    assert 'frame rejected' in out and 'Traceback' not in out
    assert 'mono8 image 1001x1000: 1001000 pixels exceeds max_pixels 1000000' in out


def test_compressed_input_and_camera_info(driver, start, models):
    node = start({'model_path': models['a'], 'use_compressed': True, 'use_camera_info': True})
    mask_topic, info_topic = node.topic('class_mask'), node.topic('camera_info')
    driver.record(mask_topic)
    driver.record(info_topic, CameraInfo)
    pub = driver.publisher(CompressedImage, node.image_topic + '/compressed')
    info_pub = driver.publisher(CameraInfo, f'/{node.name}_cam/camera_info')
    driver.wait_connected(pub, node, [mask_topic, info_topic])
    cam = CameraInfo(header=header(0), width=140, height=100)
    cam.k = [100.0, 0.0, 70.0, 0.0, 100.0, 50.0, 0.0, 0.0, 1.0]
    cam.p = [100.0, 0.0, 70.0, 0.0, 0.0, 100.0, 50.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    while info_pub.get_subscription_count() == 0:
        time.sleep(0.05)
    msg = conversions.numpy_to_compressed(frame(50, 70), 'png', CompressedImage,
                                          header=header(5))

    def both():
        info_pub.publish(cam)
        return driver.received[mask_topic] and driver.received[info_topic]
    assert driver.publish_until(pub, msg, both), node.output()
    mask = driver.received[mask_topic][0][1]
    assert (mask.height, mask.width) == (50, 70) and mask.header.stamp.sec == 1005
    info = driver.received[info_topic][0][1]
    assert info.header.stamp.sec == 1005 and (info.width, info.height) == (70, 50)
    assert info.k[0] == pytest.approx(50.0) and info.k[5] == pytest.approx(25.0)


SHUTDOWN_SIGNALS = {
    'SIGINT': (signal.SIGINT,),
    'SIGTERM': (signal.SIGTERM,),
    # Ctrl-C under ros2 launch: the terminal's SIGINT, then launch forwards its own.
    'double SIGINT': (signal.SIGINT, signal.SIGINT),
}


def send_shutdown(node, signals, gap=0.1):
    """Send ``signals`` gap seconds apart, wait for the exit; return the exit code."""
    for i, sig in enumerate(signals):
        if i:
            time.sleep(gap)
        node.proc.send_signal(sig)
    return node.stop(signals[-1], timeout=30)


def assert_clean_shutdown(node, code):
    """Exit 0 (never killed by the signal), no traceback, the worker stopped."""
    out = node.output()
    assert code == 0, (code, out)
    assert 'Traceback' not in out, out
    assert 'shut down, worker stopped' in out, out


@pytest.mark.parametrize('how', sorted(SHUTDOWN_SIGNALS))
def test_signals_shut_down_cleanly(driver, start, models, how):
    node = start({'model_path': models['a']})
    pub = driver.publisher(Image, node.image_topic)
    mask = node.topic('class_mask')
    driver.record(mask)
    driver.wait_connected(pub, node, topics=[mask])
    # The worker has run a frame, so there is a worker to stop.
    assert driver.publish_until(pub, image_msg(7), lambda: (1007, 130) in stamps(
        driver, mask)), node.output()
    assert_clean_shutdown(node, send_shutdown(node, SHUTDOWN_SIGNALS[how]))


def test_outputs_at_network_resolution_with_camera_info_scaled_to_match(driver, start, models):
    node = start({'model_path': models['a'], 'use_camera_info': True,
                  'output_resolution': 'network'})
    topics = [node.topic(t) for t in ('class_mask', 'overlay', 'confidence')]
    for t in topics:
        driver.record(t)
    info_topic = node.topic('camera_info')
    driver.record(info_topic, CameraInfo)
    pub = driver.publisher(Image, node.image_topic)
    info_pub = driver.publisher(CameraInfo, f'/{node.name}_cam/camera_info')
    driver.wait_connected(pub, node, [*topics, info_topic])
    cam = CameraInfo(header=header(0), width=140, height=100)
    cam.k = [100.0, 0.0, 70.0, 0.0, 100.0, 50.0, 0.0, 0.0, 1.0]
    while info_pub.get_subscription_count() == 0:
        time.sleep(0.05)
    msg = conversions.numpy_to_imgmsg(frame(100, 140), 'rgb8', Image, header=header(6))

    def all_out():
        info_pub.publish(cam)
        return all(driver.received[t] for t in [*topics, info_topic])
    assert driver.publish_until(pub, msg, all_out), node.output()
    for t in topics:  # the tiny model's input size is 48x64
        out = driver.received[t][0][1]
        assert (out.height, out.width) == (48, 64), t
    info = driver.received[info_topic][0][1]
    assert (info.width, info.height) == (64, 48)
    assert info.k[0] == pytest.approx(100.0 * 64 / 140) and info.k[5] == pytest.approx(24.0)
