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
What downstream ROS 2 software consumes, over real DDS.

``~/label_info`` (vision_msgs/LabelInfo, checked against the real type hashes), a mono8
confidence, PNG-compressed masks, and the semantic point cloud of ``segnet_cloud_node``,
subscribed exactly as Nav2's semantic_segmentation_layer subscribes to them.
"""

import os
import time

from builtin_interfaces.msg import Time
import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy
from rclpy.qos import HistoryPolicy
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from segnet_ros import conversions
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header
from test_edges import wait_output
from test_node import image_msg

pytestmark = pytest.mark.ros
vision_msgs = pytest.importorskip('vision_msgs.msg', reason='vision_msgs not importable: '
                                  'build the test-only one with scripts/setup.sh --tests')
LabelInfo = vision_msgs.LabelInfo

# vision_msgs 4.1.1, as released: what a real vision_msgs subscriber's types hash to.
LABEL_INFO_HASH = 'RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783'
VISION_CLASS_HASH = 'RIHS01_1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a'
# As semantic_segmentation_layer subscribes to the labels: reliable, transient local, 5.
LAYER_LABELS_QOS = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                              reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _messages(driver, topic):
    with driver.cond:
        return [m for _, m in driver.received.get(topic, [])]


def _subscribe(driver, topic, msg_type, qos):
    driver.received.setdefault(topic, [])

    def cb(msg):
        with driver.cond:
            driver.received[topic].append((time.monotonic(), msg))
            driver.cond.notify_all()
    return driver.node.create_subscription(msg_type, topic, cb, qos)


def test_label_info_names_the_classes_for_a_late_subscriber_and_follows_swaps(
        start, models, driver):
    node = start({'model_path': models['a']})
    wait_output(node, 'ready:')
    topic = node.topic('label_info')
    # Joining late: the node published long before this subscription exists.
    _subscribe(driver, topic, LabelInfo, LAYER_LABELS_QOS)
    assert driver.wait_for(lambda: _messages(driver, topic), timeout=30), node.output()
    msg = _messages(driver, topic)[0]
    assert [(c.class_id, c.class_name) for c in msg.class_map] == \
        [(i, f'class{i}') for i in range(4)]
    assert msg.threshold == 0.0 and msg.header.stamp.sec > 0
    info = driver.node.get_publishers_info_by_topic(topic)
    assert len(info) == 1 and str(info[0].topic_type_hash) == LABEL_INFO_HASH
    assert info[0].qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert info[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    vc = driver.node.create_publisher(vision_msgs.VisionClass, f'/{node.name}_vc_probe', 1)
    assert str(driver.node.get_publishers_info_by_topic(vc.topic_name)[0].topic_type_hash) \
        == VISION_CLASS_HASH
    # A swap publishes it again.
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node)
    assert driver.set_parameters(node.name, model_path=models['b'])[0].successful
    assert driver.wait_for(lambda: len(_messages(driver, topic)) >= 2, timeout=30), \
        node.output()
    second = _messages(driver, topic)[-1]
    assert (second.header.stamp.sec, second.header.stamp.nanosec) > \
        (msg.header.stamp.sec, msg.header.stamp.nanosec)
    assert [c.class_name for c in second.class_map] == [c.class_name for c in msg.class_map]


def test_without_vision_msgs_the_node_says_so_once_and_runs_on(start, models, driver):
    import conftest
    env = dict(os.environ)
    if conftest.TEST_INTERFACES is None:
        pytest.skip('a real vision_msgs is installed: it cannot be hidden from the node')
    env['PYTHONPATH'] = os.pathsep.join(p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                                        if not p.startswith(conftest.TEST_INTERFACES))
    node = start({'model_path': models['a']}, env=env)
    mask = node.topic('class_mask')
    driver.record(mask)
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node, [mask])
    assert driver.publish_until(pub, image_msg(3), lambda: driver.received[mask]), node.output()
    lines = [ln for ln in node.output().splitlines() if 'vision_msgs is not installed' in ln]
    assert len(lines) == 1 and '[WARN]' in lines[0], node.output()
    assert driver.node.count_publishers(node.topic('label_info')) == 0


def test_mono8_confidence_and_lossless_compressed_masks(start, models, driver):
    node = start({'model_path': models['a']})
    topics = {t: node.topic(t) for t in ('class_mask', 'confidence', 'class_mask/compressed',
                                         'confidence/compressed')}
    for t in ('class_mask', 'confidence'):
        driver.record(topics[t])
    for t in ('class_mask/compressed', 'confidence/compressed'):
        driver.record(topics[t], CompressedImage)
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node, list(topics.values()))
    rgb = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)

    def got(i):
        key = (1000 + i, 123 + i)
        return all(driver.first(topics[t], key) for t in ('class_mask', 'confidence',
                                                          'class_mask/compressed'))
    assert driver.publish_until(pub, image_msg(1, rgb), lambda: got(1)), node.output()
    key = (1001, 124)
    float_conf = conversions.imgmsg_to_numpy(driver.first(topics['confidence'], key)[1])
    assert driver.first(topics['confidence'], key)[1].encoding == '32FC1'
    assert not driver.first(topics['confidence/compressed'], key)  # no PNG of floats
    assert driver.set_parameters(node.name, confidence_encoding='mono8')[0].successful
    assert not driver.set_parameters(node.name, confidence_encoding='mono16')[0].successful

    def got_mono(i):
        key = (1000 + i, 123 + i)
        return got(i) and driver.first(topics['confidence/compressed'], key)
    assert driver.publish_until(pub, image_msg(2, rgb), lambda: got_mono(2)), node.output()
    key = (1002, 125)
    conf = driver.first(topics['confidence'], key)[1]
    mask = driver.first(topics['class_mask'], key)[1]
    assert conf.encoding == 'mono8' and conf.header == mask.header
    # The same frame: round(255 * c) of the float confidence, computed once per frame.
    mono = conversions.imgmsg_to_numpy(conf)
    assert np.array_equal(mono, np.clip(np.rint(float_conf * 255), 0, 255).astype(np.uint8))
    import cv2
    for raw_topic, packed_topic, raw in (('class_mask', 'class_mask/compressed', mask),
                                         ('confidence', 'confidence/compressed', conf)):
        packed = driver.first(topics[packed_topic], key)[1]
        assert packed.format == 'mono8; png compressed ' and packed.header == raw.header
        decoded = cv2.imdecode(np.frombuffer(bytes(packed.data), np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded.dtype == np.uint8 and decoded.ndim == 2
        assert np.array_equal(decoded, conversions.imgmsg_to_numpy(raw)), raw_topic


# ---- the semantic point cloud -----------------------------------------------------------------

FX, FY, CX, CY = 60.0, 60.0, 34.5, 24.5  # a 70x50 camera


def camera_info(w=70, h=50, scale=1, stamp=None):
    k = [FX * scale, 0.0, CX * scale, 0.0, FY * scale, CY * scale, 0.0, 0.0, 1.0]
    return CameraInfo(header=Header(stamp=stamp or Time(), frame_id='cam_optical'),
                      width=w * scale, height=h * scale, k=k)


def depth_msg(i, mm, encoding='16UC1'):
    arr = mm if encoding == '16UC1' else (mm.astype(np.float32) / 1000)
    return conversions.numpy_to_imgmsg(arr, encoding, Image, header=Header(
        stamp=Time(sec=1000 + i, nanosec=123 + i), frame_id='cam_optical'))


def _cloud_node(start, segnet, **params):
    return start(params, name=f'cloud_{os.getpid()}_{time.monotonic_ns() % 10 ** 6}',
                 image_topic=f'/unused_{os.getpid()}/image',
                 entry=['-m', 'segnet_ros.ros.entry', 'segnet_cloud_node'],
                 remaps=[f'class_mask:={segnet.topic("class_mask")}',
                         f'confidence:={segnet.topic("confidence")}',
                         f'class_info:={segnet.topic("class_info")}',
                         f'depth:=/{segnet.name}_cam/depth',
                         f'depth_camera_info:=/{segnet.name}_cam/depth_info'])


def _points(msg):
    from segnet_ros.cloud import POINT
    return np.frombuffer(bytes(msg.data), POINT).reshape(msg.height, msg.width)


def test_the_cloud_is_pixel_aligned_with_the_mask_and_joins_like_the_nav2_layer(
        start, models, driver):
    segnet = start({'model_path': models['a'], 'confidence_encoding': 'mono8'})
    cloud = _cloud_node(start, segnet)
    points = cloud.topic('points')
    mask_t, conf_t = segnet.topic('class_mask'), segnet.topic('confidence')
    # Subscribed as semantic_segmentation_layer does: sensor data on mask, confidence and
    # cloud; the labels reliable + transient local, joining late.
    for topic, kind in ((mask_t, Image), (conf_t, Image), (points, PointCloud2)):
        _subscribe(driver, topic, kind, qos_profile_sensor_data)
    cam = driver.publisher(Image, segnet.image_topic)
    depth = driver.publisher(Image, f'/{segnet.name}_cam/depth')
    info = driver.publisher(CameraInfo, f'/{segnet.name}_cam/depth_info')
    driver.wait_connected(cam, segnet)
    deadline = time.monotonic() + 60
    while depth.get_subscription_count() == 0 or info.get_subscription_count() == 0 or \
            driver.node.count_publishers(points) == 0:
        assert cloud.alive() and time.monotonic() < deadline, cloud.output()
        time.sleep(0.05)
    _subscribe(driver, segnet.topic('label_info'), LabelInfo, LAYER_LABELS_QOS)
    plane = np.full((50, 70), 2500, np.uint16)
    plane[0, 0] = 0  # no return: a NaN point
    frames = range(5, 13)
    for i in frames:
        key = (1000 + i, 123 + i)
        # Right after discovery a frame can be lost: each one is sent until its cloud is back.
        for _ in range(40):
            info.publish(camera_info())
            depth.publish(depth_msg(i, plane))
            cam.publish(image_msg(i))
            if driver.wait_for(lambda: any((m.header.stamp.sec, m.header.stamp.nanosec) == key
                                           for m in _messages(driver, points)), timeout=0.5):
                break
        else:
            raise AssertionError((i, cloud.output(), segnet.output()))
    assert _messages(driver, segnet.topic('label_info'))
    # The layer's sync (approximate, 0.1 s): every frame has mask, confidence and cloud.
    stamps = {t: {(m.header.stamp.sec, m.header.stamp.nanosec) for m in _messages(driver, t)}
              for t in (mask_t, conf_t, points)}
    want = {(1000 + i, 123 + i) for i in frames}
    assert all(want <= s for s in stamps.values()), stamps
    msg = next(m for m in _messages(driver, points) if m.header.stamp.sec == 1012)
    mask = next(m for m in _messages(driver, mask_t) if m.header.stamp.sec == 1012)
    assert (msg.height, msg.width) == (mask.height, mask.width) == (50, 70)
    assert msg.header.frame_id == mask.header.frame_id == 'cam_test'
    assert [f.name for f in msg.fields] == ['x', 'y', 'z', 'rgb', 'label', 'confidence']
    pts = _points(msg)
    np.testing.assert_array_equal(pts['label'], conversions.imgmsg_to_numpy(mask))
    assert np.isnan(pts['z'][0, 0]) and np.isnan(pts['x'][0, 0])
    np.testing.assert_allclose(pts['z'][1:], 2.5, atol=1e-6)
    u = np.arange(70)
    np.testing.assert_allclose(pts['x'][10], (u - CX) * 2.5 / FX, atol=1e-5)
    conf = next(m for m in _messages(driver, conf_t) if m.header.stamp.sec == 1012)
    np.testing.assert_allclose(pts['confidence'], conversions.imgmsg_to_numpy(conf) / 255,
                               atol=1e-6)


def test_bad_depth_and_stamps_that_never_match_are_counted_and_the_node_goes_on(
        start, models, driver):
    segnet = start({'model_path': models['a']})
    cloud = _cloud_node(start, segnet, use_confidence=False, valid_only=True)
    points = cloud.topic('points')
    driver.record(points, PointCloud2)
    driver.record_diagnostics()
    cam = driver.publisher(Image, segnet.image_topic)
    depth = driver.publisher(Image, f'/{segnet.name}_cam/depth')
    info = driver.publisher(CameraInfo, f'/{segnet.name}_cam/depth_info')
    driver.wait_connected(cam, segnet)
    deadline = time.monotonic() + 60
    while depth.get_subscription_count() == 0 or info.get_subscription_count() == 0:
        assert cloud.alive() and time.monotonic() < deadline, cloud.output()
        time.sleep(0.05)
    plane = np.full((50, 70), 1000, np.uint16)

    def counters():
        return driver.latest_diagnostics(cloud.name) or {}

    def send_until(predicate, *messages):
        # Right after discovery a message can be lost: resent until the node counted it.
        for _ in range(40):
            for pub, msg in messages:
                pub.publish(msg)
            if driver.wait_for(predicate, timeout=0.7):
                return True
        return False
    # 1. A depth encoding the node does not take.
    wrong = conversions.numpy_to_imgmsg(np.zeros((50, 70), np.uint8), 'mono8', Image,
                                        header=Header(stamp=Time(sec=1001, nanosec=124)))
    assert send_until(lambda: counters().get('rejected_depth', '0') != '0',
                      (info, camera_info()), (depth, wrong), (cam, image_msg(1))), cloud.output()
    # 2. A camera_info with zero focal length.
    bad = camera_info()
    bad.k = [0.0] * 9
    assert send_until(lambda: counters().get('rejected_camera_info', '0') != '0',
                      (info, bad), (depth, depth_msg(2, plane)), (cam, image_msg(2)))
    # 3. Depth stamped 40 ms off the masks: never joined by exact stamps.
    for i in range(3, 8):
        off = depth_msg(i, plane)
        off.header.stamp.nanosec += 40_000_000
        info.publish(camera_info())
        depth.publish(off)
        cam.publish(image_msg(i))
        time.sleep(0.15)
    assert driver.wait_for(lambda: int(counters().get('masks_unmatched', '0')) >= 3,
                           timeout=30), cloud.output()
    assert not driver.received[points]
    out = cloud.output()
    assert 'has no' in out and 'ms away' in out and 'Traceback' not in out
    assert "depth encoding 'mono8' is not supported" in out and 'focal length' in out
    # And it goes on: a depth image with the right stamp gives a cloud (valid points only).
    assert send_until(lambda: driver.received[points], (info, camera_info()),
                      (depth, depth_msg(9, plane)), (cam, image_msg(9))), cloud.output()
    msg = driver.received[points][-1][1]
    assert msg.height == 1 and msg.width == 50 * 70 and msg.is_dense
