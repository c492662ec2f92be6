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

"""Evaluation on the bags users have: no labels, topics found, cut and empty bags, pictures."""

import json
import os
import types

import numpy as np
from PIL import Image as PILImage
import pytest
from segnet_ros.bags import bagio as io
from segnet_ros.bags import tools
from segnet_ros.inference import Segmenter
from segnet_ros.metrics import HIST_BINS
from segnet_ros.metrics import StreamStats
from segnet_ros.metrics import uncertainty_figures
import torch

T0 = 1_700_000_000 * 1_000_000_000


def frames(n, h=48, w=64, seed=1):
    """Frames that drift slowly, so that consecutive masks are alike but not equal."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, 3)).astype(np.int16)
    out = []
    for _ in range(n):
        base = np.clip(base + rng.integers(-40, 41, (h, w, 3)), 0, 255)
        out.append(base.astype(np.uint8))
    return out


def write_bag(path, images, topic='/front/image_raw', labels=None, label_topic='/cam/labels',
              storage='sqlite3', compressed=False, extra=(), period_ns=100_000_000):
    with io.BagWriter(str(path), storage) as bag:
        for i, img in enumerate(images):
            t = T0 + i * period_ns
            if compressed:
                bag.write(topic, io.COMPRESSED, io.compressed_message(img, 'png', t), t)
            else:
                bag.write(topic, io.IMAGE, io.image_message(img, 'rgb8', t), t)
            if labels is not None and labels[i] is not None:
                bag.write(label_topic, io.IMAGE, io.image_message(labels[i], 'mono8', t), t)
        for t_topic, msgtype, msg, t in extra:
            bag.write(t_topic, msgtype, msg, t)
    return str(path)


def run_eval(capsys, *args):
    code = tools.main(['eval', *args, '--device', 'cpu', '--quiet'])
    out = capsys.readouterr()
    assert 'Traceback' not in out.err
    return code, out.out, out.err


def test_stream_stats_on_known_masks():
    s = StreamStats(3)
    a = np.zeros((4, 5), np.uint8)
    b = a.copy()
    b[0, :] = 1      # 5 of the 20 class-0 pixels become class 1
    c = b.copy()
    c[0, :2] = 2     # 2 of the 5 class-1 pixels become class 2
    conf = np.full((4, 5), 0.5, np.float32)
    conf[0, 0] = 0.05
    for i, m in enumerate((a, b, c)):
        s.add(m, T0 + i, confidence=conf)
    r = s.results(['x', 'y', 'z'])
    assert r['frames'] == 3
    assert r['flip_rate'] == pytest.approx(7 / 40)
    per_class = r['flip_rate_per_class']
    assert per_class['x'] == 5 / 35 and per_class['y'] == 2 / 5 and np.isnan(per_class['z'])
    assert r['class_share'] == {'x': 50 / 60, 'y': 8 / 60, 'z': 2 / 60}
    assert [e['flip'] for e in s.timeline] == [None, 5 / 20, 2 / 20]
    assert r['confidence']['mean'] == pytest.approx((19 * 0.5 + 0.05) / 20, abs=1e-6)
    assert r['confidence']['p50'] == pytest.approx(0.501, abs=1e-3)
    assert r['confidence']['p5'] == pytest.approx(0.051, abs=1e-3)  # 1 pixel in 20
    assert r['uncertainty'] is None and 'uncertainty_vs_error' not in r
    # A size change breaks the chain: no flip is counted across it.
    s.add(np.zeros((2, 2), np.uint8), T0 + 3)
    assert s.timeline[-1]['flip'] is None and s.results()['flip_rate'] == pytest.approx(7 / 40)


def test_uncertainty_figures_rank_wrong_pixels():
    right = torch.zeros(HIST_BINS, dtype=torch.int64)
    wrong = torch.zeros(HIST_BINS, dtype=torch.int64)
    right[10] = 90       # right pixels are all certain
    wrong[900] = 10      # wrong pixels all uncertain: a perfect flag
    f = uncertainty_figures(right, wrong, 1.0)
    assert f['auroc'] == 1.0
    assert f['accuracy_at_percentile'][90] == 1.0 and f['accuracy_at_percentile'][100] == 0.9
    wrong[900], wrong[10] = 0, 10  # indistinguishable: chance
    assert uncertainty_figures(right, wrong, 1.0)['auroc'] == 0.5


def test_eval_without_labels_reports_what_needs_no_ground_truth(tmp_path, models, capsys):
    imgs = frames(6)
    bag = write_bag(tmp_path / 'nolabel', imgs)
    out = tmp_path / 'out'
    # No --image-topic: the bag's only image topic is used.
    code, text, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(out))
    assert code == 0, err
    assert 'no label topic, nothing scored' in text and 'confidence mean' in text
    assert 'class share %: class0' in text
    res = json.loads((out / 'metrics.json').read_text())
    assert res['image_topic'] == '/front/image_raw' and res['label_topic'] is None
    assert res['frames'] == 6 and res['frames_scored'] == 0
    seg = Segmenter(models['a'], device='cpu')
    outs = [seg.segment(i, ('mask', 'confidence')) for i in imgs]
    masks = [o.mask for o in outs]
    flips = sum(int((p != q).sum()) for p, q in zip(masks, masks[1:]))
    assert res['flip_rate'] == pytest.approx(flips / (5 * masks[0].size))
    assert 0 < res['flip_rate'] < 1
    counts = np.bincount(np.concatenate([m.ravel() for m in masks]), minlength=4)
    assert list(res['class_share'].values()) == pytest.approx(list(counts / counts.sum()))
    conf = np.concatenate([o.confidence.ravel() for o in outs])
    assert res['confidence']['mean'] == pytest.approx(float(conf.mean()), abs=1e-6)
    assert res['confidence']['p5'] == pytest.approx(np.percentile(conf, 5), abs=2e-3)
    assert res['uncertainty'] is None
    report = (out / 'report.md').read_text()
    assert 'What the model sees' in report and 'No frame scored' in report
    assert '![timeline](timeline.png)' in report and (out / 'timeline.png').exists()
    rows = (out / 'timeline.csv').read_text().splitlines()
    assert rows[0].startswith('t_s,flip,conf_mean,unc_mean,latency_ms,share_class0')
    assert len(rows) == 7 and rows[2].startswith('0.100000,')
    assert float(rows[2].split(',')[1]) == pytest.approx(
        float((masks[0] != masks[1]).mean()), rel=1e-5)
    assert '![samples](samples.png)' in report and (out / 'samples.png').exists()
    assert not (out / 'confusion.png').exists()


def test_bayesian_model_reports_uncertainty_and_how_it_flags_errors(tmp_path, models, capsys):
    imgs = frames(3)
    seg = Segmenter(models['bayesian'], device='cpu', mc_samples=2)
    labels = [(seg.segment(i, ('mask',)).mask + (k == 2)) % 4 for k, i in enumerate(imgs)]
    bag = write_bag(tmp_path / 'bag', imgs, labels=labels)
    out = tmp_path / 'out'
    code, _, err = run_eval(capsys, bag, '--model', models['bayesian'], '--mc-samples', '2',
                            '--out', str(out))
    assert code == 0, err
    res = json.loads((out / 'metrics.json').read_text())
    assert res['label_topic'] == '/cam/labels' and res['frames_scored'] == 3
    assert res['uncertainty']['mean'] >= 0 and res['uncertainty']['p95'] >= 0
    flags = res['uncertainty_vs_error']
    assert 0 <= flags['auroc'] <= 1 and flags['pixels_wrong'] > 0
    assert set(flags['accuracy_at_percentile']) == {str(p) for p in range(10, 101, 10)}
    assert 'confidence_vs_error' in res and 'AUROC' in (out / 'report.md').read_text()
    assert '![uncertainty](uncertainty.png)' in (out / 'report.md').read_text()
    assert (out / 'uncertainty.png').exists()
    # The sample rows gain a fourth panel: the uncertainty heat map.
    assert 'truth where labelled | uncertainty' in (out / 'report.md').read_text()
    plain = tmp_path / 'plain'
    assert run_eval(capsys, bag, '--model', models['a'], '--out', str(plain))[0] == 0
    width = {d: PILImage.open(d / 'samples.png').size[0] for d in (out, plain)}
    assert width[out] == width[plain] * 4 // 3


def test_uncertainty_heat_map_runs_dark_to_bright():
    from segnet_ros.visualize import heat_numpy
    heat = heat_numpy(np.array([[0.0, 0.01, 0.025, 0.05, 0.5, np.nan]]), 0.05).astype(int)
    assert heat.shape == (1, 6, 3) and heat.dtype == np.int64
    assert heat[0, 0].tolist() == [0, 0, 0] and heat[0, 3].tolist() == [255, 255, 255]
    assert heat[0, 4].tolist() == [255, 255, 255] and heat[0, 5].tolist() == [0, 0, 0]
    brightness = heat[0, :4].sum(-1)
    assert (np.diff(brightness) > 0).all()


def test_topics_are_found_not_typed(tmp_path, models, capsys):
    imgs = frames(3)
    seg = Segmenter(models['a'], device='cpu')
    masks = [seg.segment(i, ('mask',)).mask for i in imgs]
    # Compressed images and a mono8 *mask* topic with the same stamps: both found.
    bag = write_bag(tmp_path / 'c', imgs, topic='/cam/image_raw/compressed', compressed=True,
                    labels=masks, label_topic='/cam/gt_mask')
    code, _, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(tmp_path / 'o'))
    assert code == 0, err
    res = json.loads((tmp_path / 'o' / 'metrics.json').read_text())
    assert res['image_topic'] == '/cam/image_raw/compressed'
    assert res['label_topic'] == '/cam/gt_mask' and res['frames_scored'] == 3
    assert res['global_acc'] == 1.0
    # --no-labels leaves it alone.
    code, _, _ = run_eval(capsys, bag, '--model', models['a'], '--no-labels',
                          '--out', str(tmp_path / 'o2'))
    res = json.loads((tmp_path / 'o2' / 'metrics.json').read_text())
    assert code == 0 and res['label_topic'] is None and res['frames_scored'] == 0
    # An rgb8 topic named like a mask is not ground truth.
    with io.BagWriter(str(tmp_path / 'rgbmask2')) as b:
        for i, img in enumerate(imgs):
            t = T0 + i
            b.write('/front/image_raw', io.IMAGE, io.image_message(img, 'rgb8', t), t)
            b.write('/viz/mask', io.IMAGE, io.image_message(img, 'rgb8', t), t)
    code, _, err = run_eval(capsys, str(tmp_path / 'rgbmask2'), '--model', models['a'],
                            '--out', str(tmp_path / 'o3'))
    res = json.loads((tmp_path / 'o3' / 'metrics.json').read_text())
    assert code == 0 and res['label_topic'] is None, err
    # Two image topics: the error lists them.
    with io.BagWriter(str(tmp_path / 'two')) as b:
        for topic in ('/left/image_raw', '/right/image_raw'):
            b.write(topic, io.IMAGE, io.image_message(imgs[0], 'rgb8', T0), T0)
    code, _, err = run_eval(capsys, str(tmp_path / 'two'), '--model', models['a'],
                            '--out', str(tmp_path / 'o4'))
    assert code == 2 and 'several image topics: /left/image_raw, /right/image_raw' in err
    assert '--image-topic' in err and err.count('\n') == 1
    code, _, err = run_eval(capsys, str(tmp_path / 'two'), '--model', models['a'],
                            '--image-topic', '/right/image_raw', '--out', str(tmp_path / 'o5'))
    assert code == 0, err


def test_empty_bag_and_empty_topic_are_one_line_and_exit_2(tmp_path, models, capsys):
    with io.BagWriter(str(tmp_path / 'empty')):
        pass
    code, _, err = run_eval(capsys, str(tmp_path / 'empty'), '--model', models['a'],
                            '--out', str(tmp_path / 'o'))
    assert code == 2 and 'the bag is empty' in err and err.count('\n') == 1
    with io.BagWriter(str(tmp_path / 'notopic')) as b:
        b.write('/other', 'std_msgs/msg/String',
                io.TYPESTORE.types['std_msgs/msg/String'](data='x'), T0)
        b._writer.add_connection('/front/image_raw', io.IMAGE, typestore=io.TYPESTORE)
    code, _, err = run_eval(capsys, str(tmp_path / 'notopic'), '--model', models['a'],
                            '--out', str(tmp_path / 'o'))
    assert code == 2 and '/front/image_raw has no messages' in err and err.count('\n') == 1


def test_undecodable_frames_are_counted_and_skipped(tmp_path, models, capsys):
    imgs = frames(4)
    garbage = io.TYPESTORE.types[io.COMPRESSED](
        header=io._header(T0 + 5, 'camera'), format='png',
        data=np.frombuffer(b'not a png at all', np.uint8))
    bag = write_bag(tmp_path / 'bag', imgs, topic='/cam/image/compressed', compressed=True,
                    extra=[('/cam/image/compressed', io.COMPRESSED, garbage, T0 + 5)])
    code, _, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(tmp_path / 'o'))
    assert code == 0, err
    res = json.loads((tmp_path / 'o' / 'metrics.json').read_text())
    assert res['frames_read'] == 5 and res['frames'] == 4
    assert sum(res['frames_skipped'].values()) == 1
    assert 'image does not decode' in next(iter(res['frames_skipped']))


def test_cut_mcap_is_read_as_far_as_it_goes(tmp_path, models, capsys):
    imgs = frames(10)
    bag = write_bag(tmp_path / 'bag', imgs, storage='mcap')
    name = [n for n in os.listdir(bag) if n.endswith('.mcap')][0]
    path = os.path.join(bag, name)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * 0.65)])  # the recording crashed
    with pytest.raises(Exception, match='magic'):
        from rosbags.rosbag2 import Reader
        with Reader(bag) as r:
            list(r.messages())
    source = io.open_bag(bag)
    n = source.topics['/front/image_raw'][1]
    assert 3 <= n < 10 and source.cut and 'ends at byte' in source.cut
    got = [io.decode_rgb(m) for m in io.read_messages(bag, ['/front/image_raw'])]
    assert len(got) == n
    for a, b in zip(got, imgs):
        np.testing.assert_array_equal(a, b)
    out = tmp_path / 'o'
    code, text, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(out))
    assert code == 0, err
    assert 'the bag was cut' in text
    res = json.loads((out / 'metrics.json').read_text())
    assert res['frames'] == n and res['cut'] == source.cut
    assert 'The bag was cut' in (out / 'report.md').read_text()
    # Cut before the first message: an empty bag, one line, exit 2.
    with open(path, 'wb') as f:
        f.write(data[:60])
    code, _, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(out))
    assert code == 2 and 'the bag is empty' in err and 'cut' in err


def test_video_of_the_overlays(tmp_path, models, capsys, monkeypatch):
    cv2 = pytest.importorskip('cv2')
    bag = write_bag(tmp_path / 'bag', frames(5), period_ns=40_000_000)  # 25 Hz
    out = tmp_path / 'o'
    code, _, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(out), '--video')
    assert code == 0, err
    cap = cv2.VideoCapture(str(out / 'video.mp4'))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 5
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25, abs=0.01)  # the bag's rate
    ok, first = cap.read()
    assert ok and first.shape == (48, 64, 3)
    assert '[video.mp4](video.mp4)' in (out / 'report.md').read_text()

    # A build without a usable codec: said once, and the rest of the report is written.
    monkeypatch.setattr(cv2, 'VideoWriter',
                        lambda *a: types.SimpleNamespace(isOpened=lambda: False))
    out = tmp_path / 'o2'
    code, _, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(out), '--video')
    assert code == 0 and 'no video' in err and 'no usable mp4v codec' in err
    assert not (out / 'video.mp4').exists() and (out / 'samples.png').exists()
    assert 'No video: no usable mp4v codec' in (out / 'report.md').read_text()
    # No OpenCV at all: the same.
    from segnet_ros.bags import report
    monkeypatch.setattr(report, 'import_opencv', lambda: None)
    code, _, err = run_eval(capsys, bag, '--model', models['a'], '--out', str(out), '--video')
    assert code == 0 and 'OpenCV (opencv-python-headless) is not installed' in err


@pytest.mark.ros
def test_live_replay_without_labels(tmp_path, models, capsys):
    import signal

    from segnet_ros.ros.peer import NodeProcess
    imgs = frames(6)
    bag = write_bag(tmp_path / 'bag', imgs)
    node = NodeProcess({'model_path': models['a'], 'input_reliability': 'reliable'},
                       log_dir=str(tmp_path))
    out = tmp_path / 'out'
    try:
        code = tools.main(['replay', bag, '--publish-topic', node.image_topic,
                           '--mask-topic', node.topic('class_mask'), '--model', models['a'],
                           '--rate', '0.5', '--samples', '3', '--out', str(out),
                           '--confidence'])
    finally:
        node.stop(signal.SIGINT)
    text = capsys.readouterr()
    assert code == 0, (text.err, node.output())
    res = json.loads((out / 'metrics.json').read_text())
    assert res['label_topic'] is None and res['frames_scored'] == 0
    assert res['frames_sent'] == res['outputs_received'] == res['frames'] == 6
    assert res['frames_dropped_by_node'] == 0
    assert 0 < res['latency_ms_p50'] <= res['latency_ms_max']
    seg = Segmenter(models['a'], device='cpu')
    masks = [seg.segment(i, ('mask',)).mask for i in imgs]
    flips = sum(int((p != q).sum()) for p, q in zip(masks, masks[1:]))
    assert res['flip_rate'] == pytest.approx(flips / (5 * masks[0].size))
    # The node's own confidence maps, as the offline run computes them.
    conf = np.concatenate([seg.segment(i, ('confidence',)).confidence.ravel() for i in imgs])
    assert res['confidence']['mean'] == pytest.approx(float(conf.mean()), abs=1e-6)
    assert res['uncertainty'] is None  # not a Bayesian model
    report = (out / 'report.md').read_text()
    assert 'latency ms p50' in report and 'frames dropped by the node: 0' in report
    assert (out / 'timeline.png').exists() and (out / 'samples.png').exists()


@pytest.mark.parametrize('compression', ['zstd', 'lz4', 'none'])
def test_cut_compressed_mcap_chunks_are_read_up_to_the_cut(tmp_path, compression):
    # rosbag2 writes zstd-compressed chunks; a crash cuts the last one short.
    from mcap.writer import CompressionType
    from mcap.writer import Writer
    imgs = frames(12, 24, 32)
    path = str(tmp_path / 'rec_0.mcap')
    with open(path, 'wb') as f:
        w = Writer(f, chunk_size=6000, compression=CompressionType[compression.upper()])
        w.start(profile='ros2', library='test')
        schema = w.register_schema(name=io.IMAGE, encoding='ros2msg', data=b'')
        channel = w.register_channel(topic='/cam/image', message_encoding='cdr',
                                     schema_id=schema)
        for i, img in enumerate(imgs):
            t = T0 + i * 100_000_000
            raw = bytes(io.TYPESTORE.serialize_cdr(io.image_message(img, 'rgb8', t), io.IMAGE))
            w.add_message(channel, log_time=t, data=raw, publish_time=t)
        w.finish()
    whole = io.open_bag(path)
    assert whole.cut is None and whole.topics['/cam/image'][1] == 12
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * 0.6)])
    cut = io.open_bag(path)
    n = cut.topics['/cam/image'][1]
    # Chunks of three frames; the cut falls inside the third. Uncompressed, its first frame
    # is still whole; compressed, a cut zstd/lz4 block yields nothing (block granularity).
    assert cut.cut and 'inside the record' in cut.cut
    assert n == (7 if compression == 'none' else 6)
    got = [io.decode_rgb(m) for m in io.read_messages(path, ['/cam/image'])]
    assert len(got) == n
    for a, b in zip(got, imgs):
        np.testing.assert_array_equal(a, b)


def test_bag_modules_import_no_ros_and_no_opencv():
    import subprocess
    import sys
    code = ('import sys; import segnet_ros.bags.tools, segnet_ros.bags.evaluate, '
            'segnet_ros.bags.report, segnet_ros.bags.compare, segnet_ros.metrics; '
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'cv2') "
            "or m.startswith('segnet_ros.ros')]; assert not bad, bad")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, '-c', code], check=True, cwd=root, timeout=120)


def test_a_found_label_topic_whose_stamps_match_no_image_scores_nothing(tmp_path, models,
                                                                        capsys):
    imgs = frames(3)
    masks = [np.zeros((48, 64), np.uint8) for _ in imgs]
    with io.BagWriter(str(tmp_path / 'bag')) as b:
        for i, (img, lbl) in enumerate(zip(imgs, masks)):
            t = T0 + i * 100_000_000
            b.write('/front/image_raw', io.IMAGE, io.image_message(img, 'rgb8', t), t)
            b.write('/front/labels', io.IMAGE, io.image_message(lbl, 'mono8', t + 7), t + 7)
    code, _, err = run_eval(capsys, str(tmp_path / 'bag'), '--model', models['a'],
                            '--out', str(tmp_path / 'o'))
    res = json.loads((tmp_path / 'o' / 'metrics.json').read_text())
    assert code == 0 and res['label_topic'] == '/front/labels', err
    assert res['frames_scored'] == 0 and res['images_unmatched'] == 3 and res['frames'] == 3
    assert 'no label stamp matches an image' in res['label_topic_source']
    # Another mono8 topic named like a mask whose stamps do match: it is taken instead.
    with io.BagWriter(str(tmp_path / 'two')) as b:
        for i, (img, lbl) in enumerate(zip(imgs, masks)):
            t = T0 + i * 100_000_000
            b.write('/front/image_raw', io.IMAGE, io.image_message(img, 'rgb8', t), t)
            b.write('/front/labels', io.IMAGE, io.image_message(lbl, 'mono8', t + 7), t + 7)
            b.write('/front/gt_mask', io.IMAGE, io.image_message(lbl, 'mono8', t), t)
    code, _, err = run_eval(capsys, str(tmp_path / 'two'), '--model', models['a'],
                            '--out', str(tmp_path / 'o3'))
    res = json.loads((tmp_path / 'o3' / 'metrics.json').read_text())
    assert code == 0 and res['label_topic'] == '/front/gt_mask', err
    assert res['frames_scored'] == 3
    assert '/front/labels 0, /front/gt_mask 3' in res['label_topic_source']
    # Within a tolerance they pair.
    code, _, _ = run_eval(capsys, str(tmp_path / 'bag'), '--model', models['a'],
                          '--tolerance-ms', '0.001', '--out', str(tmp_path / 'o2'))
    res = json.loads((tmp_path / 'o2' / 'metrics.json').read_text())
    assert res['frames_scored'] == 3


@pytest.mark.ros
def test_live_replay_reports_the_uncertainty_of_a_bayesian_node(tmp_path, models, capsys):
    import signal

    from segnet_ros.ros.peer import NodeProcess
    bag = write_bag(tmp_path / 'bag', frames(3))
    node = NodeProcess({'model_path': models['bayesian'], 'input_reliability': 'reliable',
                        'mc_samples': 2}, log_dir=str(tmp_path))
    out = tmp_path / 'out'
    try:
        code = tools.main(['replay', bag, '--publish-topic', node.image_topic,
                           '--mask-topic', node.topic('class_mask'), '--model',
                           models['bayesian'], '--rate', '0.5', '--confidence',
                           '--out', str(out)])
    finally:
        node.stop(signal.SIGINT)
    text = capsys.readouterr()
    assert code == 0, (text.err, node.output())
    res = json.loads((out / 'metrics.json').read_text())
    assert res['frames'] == 3 and 0 < res['confidence']['mean'] <= 1
    assert res['uncertainty'] is not None and res['uncertainty']['mean'] >= 0
    assert 'uncertainty mean' in text.out
