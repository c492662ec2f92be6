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

"""Leave-one-sequence-out folds, on a tiny generated dataset named like CamVid's frames."""

import json
import os

import numpy as np
from PIL import Image
import pytest
from segnet_ros.modelfile import load_model_file
from segnet_ros.training import train as train_cli
from segnet_ros.training.datasets import DatasetError
from segnet_ros.training.datasets import fold_pairs
from segnet_ros.training.datasets import sequence_of
from segnet_ros.training.train import load_config
from segnet_ros.training.train import split_pairs
import torch

torch.set_num_threads(1)

IGN = 255
# split -> {sequence: frames}; like CamVid, one sequence (B) is in both train and val.
LAYOUT = {'train': {'A': 3, 'B': 4, 'C': 2}, 'val': {'B': 2}}


def write_sequences(root, h=32, w=48):
    """Write frames named ``<sequence>_<frame>.png``; sequence C is darker (dusk)."""
    rng = np.random.default_rng(0)
    for split, seqs in LAYOUT.items():
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f'{split}annot'))
        for seq, n in seqs.items():
            for i in range(n):
                lbl = np.zeros((h, w), np.uint8)
                y, x = rng.integers(0, h - 10), rng.integers(0, w - 12)
                lbl[y:y + 8, x:x + 12] = 1
                lbl[:2, :4] = IGN
                img = np.where(lbl[..., None] == 1, 200, 50) * (0.5 if seq == 'C' else 1.0)
                img = np.clip(img + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
                name = f'{seq}_{split}{i:03d}.png'
                Image.fromarray(img).save(os.path.join(root, split, name))
                Image.fromarray(lbl, 'L').save(os.path.join(root, f'{split}annot', name))
    classes = os.path.join(root, 'classes.yaml')
    with open(classes, 'w') as f:
        f.write('classes:\n  - {name: ground, color: [50, 50, 50]}\n'
                '  - {name: box, color: [200, 200, 200]}\n'
                f'ignore_index: {IGN}\n')
    return classes


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('seqdata')
    return str(root), write_sequences(str(root))


def seqs(pairs):
    return sorted(sequence_of(img) for img, _ in pairs)


def test_sequence_of_camvid_names():
    assert sequence_of('/d/train/0001TP_006690.png') == '0001TP'
    assert sequence_of('Seq05VD_f00000.png') == 'Seq05VD'
    assert sequence_of('0016E5_07965_L.png') == '0016E5'
    assert sequence_of('frame.png') == 'frame.png'


def test_fold_pairs_hold_a_whole_sequence_out(data):
    root, _ = data
    train, held = fold_pairs(root, ['train'], ['train', 'val'], ['B'])
    assert seqs(train) == ['A'] * 3 + ['C'] * 2
    # Every frame of B, from train and from val, is scored; none is trained on.
    assert seqs(held) == ['B'] * 6
    assert not set(train) & set(held)
    train, held = fold_pairs(root, ['train', 'val'], ['train', 'val'], ['A', 'C'])
    assert seqs(train) == ['B'] * 6 and seqs(held) == ['A'] * 3 + ['C'] * 2


def test_sequence_pairs_take_every_frame_of_the_sequences_named(data):
    from segnet_ros.training.datasets import sequence_pairs
    assert seqs(sequence_pairs(data[0], ['B'])) == ['B'] * 6
    # Scoring needs no training frames left over, unlike a fold.
    assert len(sequence_pairs(data[0], ['A', 'B', 'C'])) == 11
    with pytest.raises(DatasetError, match='no sequence Z'):
        sequence_pairs(data[0], ['Z'])


def test_fold_pairs_errors(data):
    root, _ = data
    with pytest.raises(DatasetError, match='no sequence 0001TP') as e:
        fold_pairs(root, ['train'], ['train', 'val'], ['0001TP'])
    assert 'sequences: A, B, C' in str(e.value)
    with pytest.raises(DatasetError, match='leaves no training images'):
        fold_pairs(root, ['train'], ['train', 'val'], ['A', 'B', 'C'])


def test_split_pairs_from_config(data):
    root, classes = data
    train, val, name = split_pairs(load_config(None, [f'classes={classes}']), root)
    assert (len(train), len(val), name) == (9, 2, 'val')
    train, val, name = split_pairs(load_config(None, ['train_val=true']), root)
    assert (len(train), len(val)) == (11, 2)
    train, val, name = split_pairs(load_config(None, ['holdout=[C]']), root)
    assert seqs(train) == ['A'] * 3 + ['B'] * 4 and seqs(val) == ['C'] * 2
    assert name == 'holdout C'
    # train_val: the val frames of the sequences kept in training are trained on too.
    train, val, _ = split_pairs(load_config(None, ['holdout=C', 'train_val=true']), root)
    assert seqs(train) == ['A'] * 3 + ['B'] * 6


def test_holdout_config_errors():
    assert load_config(None, ['holdout=A,B'])['holdout'] == ['A', 'B']
    with pytest.raises(train_cli.ConfigError, match='holdout must be a list'):
        load_config(None, ['holdout=[1, 2]'])


def args(data, out, *extra):
    root, classes = data
    sets = {'classes': classes, 'width': 0.125, 'input_size': '[32, 48]', 'batch_size': 2,
            'workers': 0, 'epochs': 2, 'optimizer': 'adamw', 'lr': 0.01, 'amp': 'false',
            'progress': 'false'}
    out_args = ['--data', root, '--out', str(out), '--threads', '1']
    for k, v in sets.items():
        out_args += ['--set', f'{k}={v}']
    return out_args + list(extra)


def test_holdout_run_scores_the_held_out_sequence(data, tmp_path, capsys):
    assert train_cli.main(args(data, tmp_path / 'run', '--holdout', 'B')) == 0
    log = capsys.readouterr().out
    assert '5 images (A 3, C 2), scored on holdout B (6 images)' in log
    _, info = load_model_file(str(tmp_path / 'run' / 'best.safetensors'))
    assert info.metrics['split'] == 'holdout B'


def test_eval_scores_the_frames_of_a_held_out_sequence(data, tmp_path, capsys):
    from segnet_ros.training import evaluate as evaluate_cli
    assert train_cli.main(args(data, tmp_path / 'run', '--holdout', 'B')) == 0
    model = str(tmp_path / 'run' / 'best.safetensors')
    capsys.readouterr()
    out = tmp_path / 'b.json'
    assert evaluate_cli.main([model, '--data', data[0], '--sequence', 'B', '--precision',
                              'fp32', '--json', str(out)]) == 0
    assert '[sequence B], 6 images' in capsys.readouterr().out  # 4 in train, 2 in val
    res = json.loads(out.read_text())
    assert res['images'] == 6 and res['sequences'] == ['B'] and not res['flip']
    _, info = load_model_file(model)
    # The fold's own score of its last epoch, taken the same way (class scores resized).
    assert evaluate_cli.main([model, '--data', data[0], '--sequence', 'B', '--upsample',
                              'logits', '--precision', 'fp32', '--json', str(out)]) == 0
    assert json.loads(out.read_text())['miou'] == pytest.approx(info.metrics['miou'], abs=1e-4)
    assert evaluate_cli.main([model, '--data', data[0], '--sequence', 'A', '--sequence', 'C',
                              '--flip', '--json', str(out)]) == 0
    assert json.loads(out.read_text())['images'] == 5
    capsys.readouterr()
    assert evaluate_cli.main([model, '--data', data[0], '--sequence', 'Z']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('segnet_eval: error:') and 'Z' in err[0]


def test_bag_of_a_held_out_sequence(data, tmp_path, capsys):
    from segnet_ros.bags import bagio
    from segnet_ros.bags import tools
    bag = str(tmp_path / 'b')
    assert tools.main(['from-dataset', data[0], bag, '--sequence', 'B']) == 0
    assert 'wrote 6 frames' in capsys.readouterr().out  # 4 from train, 2 from val
    found = bagio.topics(bag)
    assert found['/camera/image_raw'][1] == found['/camera/labels'][1] == 6
    dark = [f.mean() for f in bagio.read_frames(bag, '/camera/image_raw')]
    assert tools.main(['from-dataset', data[0], str(tmp_path / 'c'), '--sequence', 'C']) == 0
    # Sequence C is the dark one: its frames, not B's, went into the second bag.
    assert max(f.mean() for f in bagio.read_frames(str(tmp_path / 'c'),
                                                   '/camera/image_raw')) < min(dark)
    assert tools.main(['from-dataset', data[0], str(tmp_path / 'z'), '--sequence', 'Z']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('segnet_bag: error:') and 'Z' in err[0]


def test_folds_train_one_model_per_sequence(data, tmp_path, capsys):
    out = tmp_path / 'folds'
    assert train_cli.main(args(data, out, '--folds', 'all')) == 0
    log = capsys.readouterr().out
    rows = json.loads((out / 'folds.json').read_text())
    assert [r['holdout'] for r in rows] == ['A', 'B', 'C']
    assert [(r['train_images'], r['eval_images']) for r in rows] == [(6, 3), (5, 6), (7, 2)]
    for r in rows:
        assert r['epochs'] == 2 and 1 <= r['best_epoch'] <= 2
        for k in ('global_acc', 'class_acc', 'miou', 'bf'):
            assert 0.0 <= r[k] <= 1.0
        assert r['select_on'] == 'miou' and r['best'] >= r['miou']
        hist = json.loads((out / f"holdout_{r['holdout']}" / 'history.json').read_text())
        assert hist[-1]['miou'] == r['miou']      # the last epoch's score, not the best's
    table = log[log.index('held out'):]
    assert 'mean' in table and table.count('\n') >= 4
    assert train_cli.main(args(data, tmp_path / 'one', '--folds', 'C')) == 0
    assert [r['holdout'] for r in json.loads((tmp_path / 'one' / 'folds.json').read_text())] \
        == ['C']


def test_folds_errors_are_one_line(data, tmp_path, capsys):
    for extra in (['--folds', 'Z'], ['--holdout', 'Z'], ['--folds', 'A', '--holdout', 'A']):
        assert train_cli.main(args(data, tmp_path / 'x', *extra)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('segnet_train: error:'), err
