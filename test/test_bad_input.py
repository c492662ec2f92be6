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

"""A bad dataset folder stops training with one line naming the file, before any epoch."""

import os
import shutil

import numpy as np
from PIL import Image
import pytest
from segnet_ros.training import train as train_cli
from segnet_ros.training.datasets import check_pairs
from segnet_ros.training.datasets import DatasetError
from segnet_ros.training.datasets import find_pairs
import torch

torch.set_num_threads(1)

IGN = 255


def write_good(root, h=16, w=24):
    for split, n in (('train', 4), ('val', 2)):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f'{split}annot'))
        for i in range(n):
            lbl = np.zeros((h, w), np.uint8)
            lbl[:, w // 2:] = 1
            lbl[0, 0] = IGN
            img = np.where(lbl[..., None] == 1, 200, 40).astype(np.uint8).repeat(3, 2)
            Image.fromarray(img).save(os.path.join(root, split, f'{i}.png'))
            Image.fromarray(lbl, 'L').save(os.path.join(root, f'{split}annot', f'{i}.png'))
    with open(os.path.join(root, 'classes.yaml'), 'w') as f:
        f.write('classes:\n  - {name: a, color: [40, 40, 40]}\n'
                f'  - {{name: b, color: [200, 200, 200]}}\nignore_index: {IGN}\n')


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp('good')
    write_good(str(root))
    return root


def truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def garbage(path):
    with open(path, 'wb') as f:
        f.write(b'not an image at all')


def label_value(path):
    lbl = np.array(Image.open(path))
    lbl[3, 4] = 7
    Image.fromarray(lbl, 'L').save(path)


def label_size(path):
    Image.fromarray(np.zeros((15, 24), np.uint8), 'L').save(path)


def label_rgb(path):
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(path)


# (what breaks, the file it breaks, words the message must hold)
CASES = [
    ('missing split', 'valannot', "split 'val' is missing"),
    ('unreadable image', 'val/1.png', 'cannot read image'),
    ('truncated image', 'train/2.png', 'cannot read image'),
    ('unreadable label', 'trainannot/3.png', 'cannot read label'),
    ('label value', 'valannot/0.png', 'label values [7] are outside 0..1'),
    ('label size', 'trainannot/1.png', 'is 24x15 but its image'),
    ('rgb label', 'valannot/1.png', 'single-channel'),
]
BREAK = {'missing split': shutil.rmtree, 'unreadable image': garbage,
         'truncated image': truncate, 'unreadable label': garbage,
         'label value': label_value, 'label size': label_size, 'rgb label': label_rgb}


@pytest.mark.parametrize('case,target,words', CASES, ids=[c[0] for c in CASES])
def test_training_stops_before_the_first_epoch(good, tmp_path, capsys, case, target, words):
    root = tmp_path / 'data'
    shutil.copytree(good, root)
    BREAK[case](str(root / target))
    out = tmp_path / 'run'
    argv = ['--data', str(root), '--out', str(out), '--threads', '1']
    for k, v in {'classes': root / 'classes.yaml', 'width': 0.125, 'input_size': '[16, 24]',
                 'batch_size': 2, 'workers': 0, 'epochs': 1, 'amp': 'false',
                 'progress': 'false'}.items():
        argv += ['--set', f'{k}={v}']
    assert train_cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('segnet_train: error:'), captured.err
    assert words in lines[0]
    assert str(root / target) in lines[0]
    assert 'epoch' not in captured.out and not (out / 'last.ckpt').exists()


def test_check_pairs_accepts_a_good_split(good):
    check_pairs(find_pairs(str(good), 'train'), 2, IGN)
    with pytest.raises(DatasetError, match='outside 0..0'):
        check_pairs(find_pairs(str(good), 'train'), 1, IGN)
