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

"""``segnet_bag compare``: model A against model B on one bag, without and with labels."""

import json

import numpy as np
import pytest
from segnet_ros.bags import bagio as io
from segnet_ros.bags import tools
from segnet_ros.inference import Segmenter

T0 = 1_700_000_000 * 1_000_000_000


def write_bag(path, imgs, labels=None):
    with io.BagWriter(str(path)) as bag:
        for i, img in enumerate(imgs):
            t = T0 + i * 100_000_000
            bag.write('/front/image_raw', io.IMAGE, io.image_message(img, 'rgb8', t), t)
            if labels is not None:
                bag.write('/front/labels', io.IMAGE, io.image_message(labels[i], 'mono8', t), t)
    return str(path)


def compare(capsys, *args):
    code = tools.main(['compare', *args, '--device', 'cpu', '--quiet'])
    out = capsys.readouterr()
    assert 'Traceback' not in out.err
    return code, out.out, out.err


def test_compare_without_labels(tmp_path, models, capsys):
    rng = np.random.default_rng(4)
    imgs = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    bag = write_bag(tmp_path / 'bag', imgs)
    out = tmp_path / 'o'
    code, text, err = compare(capsys, bag, '--model', models['a'], '--model', models['b'],
                              '--samples', '2', '--out', str(out))
    assert code == 0, err
    res = json.loads((out / 'metrics.json').read_text())
    ma = [Segmenter(models['a'], device='cpu').segment(i).mask for i in imgs]
    mb = [Segmenter(models['b'], device='cpu').segment(i).mask for i in imgs]
    a, b = np.concatenate([m.ravel() for m in ma]), np.concatenate([m.ravel() for m in mb])
    assert res['frames'] == 5 and 'scores_a' not in res
    assert res['pixel_agreement'] == pytest.approx(float((a == b).mean()))
    ious = []
    for c in range(4):
        inter, union = np.sum((a == c) & (b == c)), np.sum((a == c) | (b == c))
        if (a == c).any():
            ious.append(inter / union)
            assert res['iou_b_vs_a'][f'class{c}'] == pytest.approx(inter / union)
    assert res['miou_b_vs_a'] == pytest.approx(np.mean(ious))
    assert res['miou_b_vs_a'] < 1
    per_frame = [float((p != q).mean()) for p, q in zip(ma, mb)]
    assert [d['disagreement'] for d in res['most_disagreeing']] == pytest.approx(
        sorted(per_frame, reverse=True)[:2])
    first = res['most_disagreeing'][0]['stamp']
    assert per_frame[(first - T0) // 100_000_000] == max(per_frame)
    assert res['ms_per_frame_a']['mean'] > 0 and res['ms_per_frame_b']['mean'] > 0
    assert 'mIoU of B against A' in text
    report = (out / 'report.md').read_text()
    assert 'Speed on this machine' in report and '![samples](samples.png)' in report
    assert (out / 'samples.png').exists()
    # A model against itself agrees everywhere.
    code, _, _ = compare(capsys, bag, '--model', models['a'], '--model', models['a'],
                         '--out', str(tmp_path / 'same'))
    same = json.loads((tmp_path / 'same' / 'metrics.json').read_text())
    assert code == 0 and same['pixel_agreement'] == 1.0 and same['miou_b_vs_a'] == 1.0


def test_compare_with_labels_scores_both(tmp_path, models, capsys):
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    seg_a = Segmenter(models['a'], device='cpu')
    bag = write_bag(tmp_path / 'bag', imgs, [seg_a.segment(i).mask for i in imgs])
    out = tmp_path / 'o'
    code, text, err = compare(capsys, bag, '--model', models['a'], '--model', models['b'],
                              '--out', str(out))
    assert code == 0, err
    res = json.loads((out / 'metrics.json').read_text())
    assert res['label_topic'] == '/front/labels'
    assert res['scores_a']['global_acc'] == 1.0 and res['scores_a']['frames_scored'] == 3
    # The labels are A's masks: B's accuracy is its agreement with A.
    assert res['scores_b']['global_acc'] == pytest.approx(res['pixel_agreement'])
    assert res['scores_b']['miou'] == pytest.approx(res['miou_b_vs_a'])
    assert 'mIoU against /front/labels: A 100.0' in text
    assert '| IoU A % | IoU B % |' in (out / 'report.md').read_text()


def test_compare_refuses_models_with_other_classes(tmp_path, models, capsys):
    bag = write_bag(tmp_path / 'bag', [np.zeros((48, 64, 3), np.uint8)])
    code, _, err = compare(capsys, bag, '--model', models['a'], '--model',
                           models['other_classes'], '--out', str(tmp_path / 'o'))
    assert code == 2 and 'different classes' in err
    code, _, err = compare(capsys, bag, '--model', models['a'], '--out', str(tmp_path / 'o'))
    assert code == 2 and '--model twice' in err
