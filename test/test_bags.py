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

"""Dataset <-> bag tools on generated data, in both storage formats."""

import os

import numpy as np
from PIL import Image
import pytest

from segnet_ros.bags import bagio as io
from segnet_ros.bags import tools


def make_dataset(root, n=4, h=24, w=32, split='val'):
    rng = np.random.default_rng(0)
    os.makedirs(root / split)
    os.makedirs(root / f'{split}annot')
    pairs = []
    for i in range(n):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        lbl = rng.integers(0, 5, (h, w), dtype=np.uint8)
        Image.fromarray(img).save(root / split / f'f{i:03d}.png')
        Image.fromarray(lbl).save(root / f'{split}annot' / f'f{i:03d}.png')
        pairs.append((img, lbl))
    return pairs


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
@pytest.mark.parametrize('compressed', [None, 'png'])
def test_dataset_bag_dataset_round_trip_is_lossless(tmp_path, storage, compressed):
    pairs = make_dataset(tmp_path / 'ds')
    bag = str(tmp_path / 'bag')
    n = tools.dataset_to_bag(str(tmp_path / 'ds'), 'val', bag, fps=10, compressed=compressed,
                             camera_info=True, storage=storage, progress=False)
    assert n == 4
    topic = '/camera/image_raw' + ('/compressed' if compressed else '')
    listing = io.topics(bag)
    assert listing[topic][1] == 4 and listing['/camera/labels'][1] == 4
    assert listing['/camera/camera_info'][0] == io.CAMERA_INFO
    stamps = {}
    for m in io.read_messages(bag, [topic, '/camera/labels']):
        stamps.setdefault(m.topic, []).append(io.stamp_ns(m.msg))
    assert stamps[topic] == stamps['/camera/labels']
    assert np.all(np.diff(stamps[topic]) == 100_000_000)
    out = tmp_path / 'png'
    assert tools.bag_to_dataset(bag, str(out), topic, '/camera/labels', progress=False) == (4, 4)
    names = sorted(os.listdir(out / 'images'))
    assert names == sorted(os.listdir(out / 'labels'))
    for (img, lbl), name in zip(pairs, names):
        np.testing.assert_array_equal(np.asarray(Image.open(out / 'images' / name)), img)
        np.testing.assert_array_equal(np.asarray(Image.open(out / 'labels' / name)), lbl)


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bags_are_written_at_a_metadata_version_humble_reads(tmp_path, storage):
    # Humble's rosbag2 parses offered_qos_profiles as a string (metadata_io.cpp); version 9
    # writes a list there and Humble refuses the bag.
    import yaml
    make_dataset(tmp_path / 'ds', n=2)
    bag = tmp_path / 'bag'
    tools.main(['from-dataset', str(tmp_path / 'ds'), str(bag), '--storage', storage])
    with open(bag / 'metadata.yaml') as f:
        meta = yaml.safe_load(f)['rosbag2_bagfile_information']
    assert meta['version'] == io.BAG_VERSION == 8
    topics = meta['topics_with_message_count']
    assert len(topics) == 2
    for t in topics:
        assert isinstance(t['topic_metadata']['offered_qos_profiles'], str)


def test_rclpy_reads_what_rosbags_writes(tmp_path):
    serialization = pytest.importorskip('rclpy.serialization')
    from sensor_msgs.msg import Image as RosImage
    from segnet_ros import conversions
    make_dataset(tmp_path / 'ds', n=1)
    bag = str(tmp_path / 'bag')
    tools.dataset_to_bag(str(tmp_path / 'ds'), 'val', bag, progress=False)
    reader = io.open_reader(bag)
    conn = [c for c in reader.connections if c.topic == '/camera/image_raw'][0]
    raw = next(iter(reader.messages(connections=[conn])))[2]
    reader.close()
    msg = serialization.deserialize_message(bytes(raw), RosImage)
    assert msg.encoding == 'rgb8' and conversions.to_rgb8(msg).shape == (24, 32, 3)


def test_bad_inputs_give_one_clear_error(tmp_path, capsys):
    assert tools.main(['to-dataset', str(tmp_path / 'nope'), str(tmp_path / 'o')]) == 2
    assert 'no such bag' in capsys.readouterr().err
    make_dataset(tmp_path / 'ds', n=1)
    bag = str(tmp_path / 'bag')
    assert tools.main(['from-dataset', str(tmp_path / 'ds'), bag]) == 0
    assert tools.main(['from-dataset', str(tmp_path / 'ds'), bag]) == 2
    assert 'already exists' in capsys.readouterr().err
    assert tools.main(['to-dataset', bag, str(tmp_path / 'o'), '--image-topic', '/x']) == 2
    err = capsys.readouterr().err
    assert 'no topic /x' in err and '/camera/image_raw (sensor_msgs/msg/Image)' in err
    assert 'Traceback' not in err
    assert tools.main(['from-dataset', str(tmp_path / 'missing'), str(tmp_path / 'b2')]) == 2
    assert 'segnet_bag: error:' in capsys.readouterr().err


def test_bundled_sample_bag_is_readable():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bag = os.path.join(root, 'data', 'camvid_val_sample')
    imgs = [io.decode_rgb(m) for m in io.read_messages(bag, ['/camera/image_raw'])]
    lbls = [io.decode_label(m) for m in io.read_messages(bag, ['/camera/labels'])]
    assert len(imgs) == len(lbls) == 10
    assert imgs[0].shape == (360, 480, 3) and lbls[0].shape == (360, 480)
    assert max(int(lbl.max()) for lbl in lbls) <= 11
