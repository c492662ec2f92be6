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

"""Offline and live evaluation from bags, and what they do with bad input."""

import dataclasses
import json
import signal

import numpy as np
import pytest

from segnet_ros import conversions
from segnet_ros.bags import bagio as io
from segnet_ros.bags import tools
from segnet_ros.bags.evaluate import offline_evaluate
from segnet_ros.bags.evaluate import StampIndex
from segnet_ros.inference import Segmenter

T0 = 1_700_000_000 * 1_000_000_000
# The node's /diagnostics counters: every frame received ends in exactly one of the others.
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
            'inference_errors', 'out_of_memory_errors', 'frames_without_subscribers')


def frames(n, h=24, w=32):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def write_bag(path, images, labels, label_offset_ns=0, storage='sqlite3', extra=()):
    with io.BagWriter(str(path), storage) as bag:
        for i, (img, lbl) in enumerate(zip(images, labels)):
            t = T0 + i * 100_000_000
            bag.write('/cam/image', io.IMAGE, io.image_message(img, 'rgb8', t), t)
            if lbl is not None:
                tl = t + label_offset_ns
                bag.write('/cam/labels', io.IMAGE, io.image_message(lbl, 'mono8', tl), tl)
        for topic, msgtype, data, t in extra:
            bag.write_raw(topic, msgtype, data, t)


def test_stamp_pairing_exact_and_nearest():
    idx = StampIndex([100, 200, 300], tolerance_ns=0)
    assert idx.match(200) == 200 and idx.match(201) is None
    idx = StampIndex([100, 200, 300], tolerance_ns=10)
    assert idx.match(205) == 200 and idx.match(296) == 300 and idx.match(250) is None


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_offline_metrics_are_exact_on_known_predictions(tmp_path, models, storage):
    seg = Segmenter(models['a'], device='cpu')
    imgs = frames(3)
    preds = [seg.segment(img, ('mask',)).mask for img in imgs]
    k = seg.num_classes
    # Two frames labelled with the model's own prediction, one labelled wrong everywhere.
    labels = [preds[0], preds[1], (preds[2] + 1) % k]
    write_bag(tmp_path / 'bag', imgs, labels, storage=storage)
    scorer, res, _ = offline_evaluate(str(tmp_path / 'bag'), seg, '/cam/image', '/cam/labels')
    assert res['frames_scored'] == 3 and res['images_unmatched'] == 0
    assert res['global_acc'] == pytest.approx(2 / 3)
    mat = np.zeros((k, k), np.int64)
    for p, lbl in zip(preds, labels):
        np.add.at(mat, (lbl.ravel(), p.ravel()), 1)
    np.testing.assert_array_equal(scorer.metrics.cm.mat.numpy(), mat)
    tp, gt, pr = np.diag(mat), mat.sum(1), mat.sum(0)
    present = gt > 0
    assert res['miou'] == pytest.approx(np.mean((tp / (gt + pr - tp))[present]))
    assert res['class_acc'] == pytest.approx(np.mean((tp / gt)[present]))


def test_nearest_stamp_tolerance_and_unmatched_counts(tmp_path, models):
    seg = Segmenter(models['a'], device='cpu')
    imgs = frames(4)
    labels = [seg.segment(img, ('mask',)).mask for img in imgs]
    labels[3] = None  # an image without ground truth
    write_bag(tmp_path / 'bag', imgs, labels, label_offset_ns=3_000_000)
    _, exact, _ = offline_evaluate(str(tmp_path / 'bag'), seg, '/cam/image', '/cam/labels')
    assert exact['frames_scored'] == 0 and exact['images_unmatched'] == 4
    assert exact['labels_unmatched'] == 3
    _, near, _ = offline_evaluate(str(tmp_path / 'bag'), seg, '/cam/image', '/cam/labels',
                                  tolerance_ns=5_000_000)
    assert near['frames_scored'] == 3 and near['images_unmatched'] == 1
    assert near['global_acc'] == 1.0


def test_bad_frames_are_skipped_and_counted(tmp_path, models):
    seg = Segmenter(models['a'], device='cpu')
    imgs = frames(4)
    labels = [seg.segment(img, ('mask',)).mask for img in imgs]
    labels[1] = np.zeros((10, 10), np.uint8)  # wrong size
    labels[2] = labels[2].copy()
    labels[2][0, 0] = 77  # outside the class range (and not the ignore index)
    garbage = ('/cam/labels', io.IMAGE, b'\x00\x01\x00\x00garbage', T0 + 50_000_000)
    write_bag(tmp_path / 'bag', imgs, labels, extra=[garbage])
    _, res, _ = offline_evaluate(str(tmp_path / 'bag'), seg, '/cam/image', '/cam/labels')
    assert res['frames_scored'] == 2
    assert res['frames_skipped'] == {'image and label sizes differ': 1,
                                     'label values outside the class range': 1,
                                     '/cam/labels: message does not decode': 1}


def test_eval_cli_writes_report_and_prediction_bag(tmp_path, models, capsys):
    seg = Segmenter(models['a'], device='cpu')
    imgs = frames(3)
    write_bag(tmp_path / 'bag', imgs, [seg.segment(i, ('mask',)).mask for i in imgs])
    out = tmp_path / 'report'
    code = tools.main(['eval', str(tmp_path / 'bag'), '--model', models['a'], '--device', 'cpu',
                       '--image-topic', '/cam/image', '--label-topic', '/cam/labels',
                       '--out', str(out), '--write-bag', str(tmp_path / 'pred'),
                       '--samples', '2'])
    assert code == 0, capsys.readouterr()
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['global_acc'] == 1.0 and metrics['frames_scored'] == 3
    assert (out / 'confusion.png').exists() and (out / 'report.md').exists()
    assert (out / 'samples.png').exists() and (out / 'timeline.png').exists()
    report = (out / 'report.md').read_text()
    assert '![samples](samples.png)' in report and '![confusion](confusion.png)' in report
    topics = io.topics(str(tmp_path / 'pred'))
    assert topics['/segnet/class_mask'][1] == 3 and topics['/cam/image'][1] == 3
    masks = [io.decode_label(m) for m in
             io.read_messages(str(tmp_path / 'pred'), ['/segnet/class_mask'])]
    np.testing.assert_array_equal(masks[0], seg.segment(imgs[0], ('mask',)).mask)


def test_eval_cli_bad_inputs(tmp_path, models, capsys):
    def run(*args):
        code = tools.main(['eval', *args, '--model', models['a'], '--device', 'cpu',
                           '--out', str(tmp_path / 'r')])
        err = capsys.readouterr().err
        assert 'Traceback' not in err
        return code, err

    code, err = run(str(tmp_path / 'missing'))
    assert code == 2 and 'no such bag' in err
    imgs = frames(1)
    write_bag(tmp_path / 'bag', imgs, [np.zeros((24, 32), np.uint8)])
    code, err = run(str(tmp_path / 'bag'), '--image-topic', '/nope')
    assert code == 2 and 'no topic /nope' in err and '/cam/image (sensor_msgs/msg/Image)' in err
    with io.BagWriter(str(tmp_path / 'strings')) as bag:
        msg = io.TYPESTORE.types['std_msgs/msg/String'](data='hello')
        bag.write('/cam/image', 'std_msgs/msg/String', msg, T0)
        bag.write('/cam/labels', 'std_msgs/msg/String', msg, T0)
    code, err = run(str(tmp_path / 'strings'), '--image-topic', '/cam/image',
                    '--label-topic', '/cam/labels')
    assert code == 2 and 'holds std_msgs/msg/String' in err
    (tmp_path / 'notabag').mkdir()
    code, err = run(str(tmp_path / 'notabag'))
    assert code == 2 and 'not a readable rosbag2 bag' in err


def test_interrupted_writer_leaves_a_readable_bag(tmp_path):
    path = tmp_path / 'bag'
    with pytest.raises(KeyboardInterrupt):
        with io.BagWriter(str(path)) as bag:
            img = frames(1)[0]
            for i in range(3):
                bag.write('/cam/image', io.IMAGE, io.image_message(img, 'rgb8', T0 + i), T0 + i)
            raise KeyboardInterrupt
    assert io.topics(str(path))['/cam/image'][1] == 3


def io_to_ros(rgb):
    """Return an rclpy sensor_msgs/Image of an RGB frame."""
    from sensor_msgs.msg import Image
    return conversions.numpy_to_imgmsg(rgb, 'rgb8', Image)


def node_counters(driver, node, sent):
    """Wait for the node's /diagnostics to account for ``sent`` frames; return its counters."""
    def settled():
        d = driver.latest_diagnostics(node.name)
        if d is None or int(d['frames_received']) < sent:
            return None
        c = {k: int(d[k]) for k in COUNTERS}
        return c if c['frames_received'] == sum(c[k] for k in COUNTERS[1:]) else None
    counters = driver.wait_for(settled, timeout=10)
    assert counters, (driver.latest_diagnostics(node.name), node.output())
    return counters


@pytest.mark.ros
def test_live_replay_matches_every_frame_at_a_low_rate_and_counts_drops(tmp_path, models,
                                                                        driver):
    from segnet_ros.ros.peer import NodeProcess
    from segnet_ros.ros.replay import COUNTERS as REPLAY_COUNTERS
    from sensor_msgs.msg import Image
    from segnet_ros.ros.replay import live_replay
    assert REPLAY_COUNTERS == COUNTERS

    driver.record_diagnostics()
    seg = Segmenter(models['a'], device='cpu')
    imgs = frames(8, 48, 64)
    masks = [seg.segment(i, ('mask',)).mask for i in imgs]
    write_bag(tmp_path / 'bag', imgs, masks)
    # The same frames and a ninth, between the fourth and the fifth, whose data is cut short:
    # the node rejects it, so a frame without output is not always a frame dropped.
    short = io.image_message(imgs[0], 'rgb8', T0 + 350_000_000)
    short = dataclasses.replace(short, data=short.data[:100])
    write_bag(tmp_path / 'bag_short_frame', imgs, masks, extra=[(
        '/cam/image', io.IMAGE, bytes(io.TYPESTORE.serialize_cdr(short, io.IMAGE)),
        T0 + 350_000_000)])
    node = NodeProcess({'model_path': models['a'], 'input_reliability': 'reliable'},
                       log_dir=str(tmp_path))
    info = (seg.num_classes, 255, seg.class_names, seg.class_colors)
    try:
        # One frame before the replay, which the replay must not count as its own (no output
        # has a subscriber yet: the node counts it under frames_without_subscribers).
        pub = driver.publisher(Image, node.image_topic)
        driver.wait_connected(pub, node)
        pub.publish(io_to_ros(imgs[0]))
        before = node_counters(driver, node, 1)
        res, *_ = live_replay(str(tmp_path / 'bag_short_frame'), '/cam/image', '/cam/labels',
                              node.image_topic, node.topic('class_mask'), info, rate=0.5,
                              record_bag=str(tmp_path / 'out'), log=lambda m: None)
        own = node_counters(driver, node, 10)
    finally:
        node.stop(signal.SIGINT)
    assert before['frames_received'] == before['frames_without_subscribers'] == 1, before
    assert res['frames_sent'] == 9 and res['outputs_received'] == 8, node.output()
    assert res['frames_scored'] == 8 and res['global_acc'] == 1.0
    # What the replay reports is what the node counted itself during the replay: 8 frames
    # segmented, the short one rejected, none dropped.
    during = {k: own[k] - before[k] for k in COUNTERS}
    assert res['node_counters'] == {**during, 'in_flight': 0}, (res['node_counters'], own)
    assert during['frames_received'] == 9 and during['frames_processed'] == 8, during
    assert during['frames_rejected'] == 1, during
    assert res['frames_dropped_by_node'] == own['frames_dropped'] == 0
    assert res['outputs_missing'] == 1
    assert 0 < res['latency_ms_p50'] <= res['latency_ms_max']
    assert io.topics(str(tmp_path / 'out'))[node.topic('class_mask')][1] == 8

    slow = NodeProcess({'model_path': models['slow'], 'input_reliability': 'reliable',
                        'input_depth': 10, 'precision': 'fp32'}, log_dir=str(tmp_path))
    try:
        res, *_ = live_replay(str(tmp_path / 'bag'), '/cam/image', '/cam/labels',
                              slow.image_topic, slow.topic('class_mask'), info, rate=10.0,
                              settle_s=5.0, log=lambda m: None)
        own = node_counters(driver, slow, 8)
    finally:
        slow.stop(signal.SIGINT)
    assert res['frames_sent'] == 8
    # The node's own counts: all 8 frames arrived (reliable, depth 10); each was segmented
    # or dropped as stale, and some were dropped because the model is slower than 10 Hz.
    assert own['frames_received'] == 8, own
    assert own['frames_processed'] + own['frames_dropped'] == 8, own
    assert own['frames_dropped'] > 0, own
    assert res['node_counters'] == {**own, 'in_flight': 0}, (res['node_counters'], own)
    assert res['frames_dropped_by_node'] == own['frames_dropped']
    assert res['outputs_received'] == own['frames_processed'], (res, own)
    assert res['outputs_missing'] == own['frames_dropped']
