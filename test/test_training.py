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

"""Tests for training: class weights, datasets, transforms, config, train/resume, export, eval.

Everything runs on a tiny generated dataset (32 x 48 PNGs in a temporary folder) with a
1/8-width SegNet on the CPU.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image
import pytest
from segnet_ros.bags.evaluate import offline_evaluate
from segnet_ros.bags.tools import dataset_to_bag
from segnet_ros.inference import Segmenter
from segnet_ros.modelfile import load_model_file
from segnet_ros.modelfile import load_state
from segnet_ros.modelfile import ModelFileError
from segnet_ros.training import evaluate as evaluate_cli
from segnet_ros.training import export as export_cli
from segnet_ros.training import train as train_cli
from segnet_ros.training.datasets import DatasetError
from segnet_ros.training.datasets import find_pairs
from segnet_ros.training.datasets import median_frequency_weights
from segnet_ros.training.datasets import SegmentationDataset
from segnet_ros.training.export import checkpoint_to_model_file
from segnet_ros.training.export import export_onnx
from segnet_ros.training.train import ConfigError
from segnet_ros.training.train import load_config
from segnet_ros.training.transforms import PairTransform
import torch

# Tiny models run fastest on one thread, and a busy machine makes extra threads wait. The
# training subprocess gets the same setting so that its arithmetic matches this process.
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGN = 255
COLORS = [(40, 60, 200), (200, 40, 40), (40, 190, 60)]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def write_dataset(root, n_train=8, n_val=4, h=32, w=48, seed=0):
    """Blue background (0) with a red (1) and a green (2) rectangle; some void (255) pixels."""
    rng = np.random.default_rng(seed)
    for split, n in (('train', n_train), ('val', n_val)):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f'{split}annot'))
        for i in range(n):
            lbl = np.zeros((h, w), np.uint8)
            for c in (1, 2):
                y, x = rng.integers(0, h - 10), rng.integers(0, w - 12)
                lbl[y:y + rng.integers(6, 12), x:x + rng.integers(8, 16)] = c
            if i % 2:
                lbl[:3, :5] = IGN
            img = np.array(COLORS + [(0, 0, 0)], np.float32)[np.minimum(lbl, 3)]
            img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(os.path.join(root, split, f'{i:03d}.png'))
            Image.fromarray(lbl, 'L').save(os.path.join(root, f'{split}annot', f'{i:03d}.png'))
    classes = os.path.join(root, 'classes.yaml')
    with open(classes, 'w') as f:
        f.write('classes:\n')
        for name, c in zip(('background', 'red', 'green'), COLORS):
            f.write(f'  - {{name: {name}, color: [{c[0]}, {c[1]}, {c[2]}]}}\n')
        f.write(f'ignore_index: {IGN}\n')
    return classes


def train_args(data, out, classes, epochs, *extra, augment=False):
    sets = {'classes': classes, 'architecture': 'segnet', 'width': 0.125,
            'input_size': '[32, 48]', 'batch_size': 4, 'workers': 0, 'epochs': epochs,
            'optimizer': 'adamw', 'lr': 0.01, 'val_every': 1, 'amp': 'false',
            'progress': 'false'}
    if augment:
        sets.update(flip='true', jitter=0.1, scale='[0.9, 1.2]', crop='[32, 48]')
    args = ['--data', str(data), '--out', str(out)]
    for k, v in sets.items():
        args += ['--set', f'{k}={v}']
    return args + list(extra)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    classes = write_dataset(str(root))
    return root, classes


@pytest.fixture(scope='module')
def trained(dataset, tmp_path_factory):
    """Run 6 epochs on the tiny dataset (shared by the artefact, export and eval tests)."""
    data, classes = dataset
    out = tmp_path_factory.mktemp('run')
    rc = train_cli.main(train_args(data, out, classes, 6))
    assert rc == 0
    return out


# ---------------------------------------------------------------- median frequency balancing

def test_median_frequency_weights_by_hand():
    a = np.array([[0, 0, 0, 1],
                  [0, 0, 1, 11]], np.uint8)        # 8 px: class 0 x5, class 1 x2, void x1
    b = np.array([[2, 2, 2, 0],
                  [2, 2, 0, 255]], np.uint8)       # 8 px: class 0 x2, class 2 x5, ignore x1
    c = np.ones((3, 2), np.uint8)                  # 6 px: class 1 x6
    # freq_c = pixels of c / total pixels of the images where c appears (void and ignored
    # pixels are part of an image's total but are no class of their own); class 3 never
    # appears and gets weight 0; the median is over the classes that appear.
    freq0 = (5 + 2) / (8 + 8)        # images a, b
    freq1 = (2 + 6) / (8 + 6)        # images a, c
    freq2 = 5 / 8                    # image b
    med = sorted([freq0, freq1, freq2])[1]
    assert med == freq1
    expected = [med / freq0, med / freq1, med / freq2, 0.0]
    assert expected == pytest.approx([64 / 49, 1.0, 32 / 35, 0.0])
    w = median_frequency_weights([a, b, c], 4)
    assert w.tolist() == pytest.approx(expected, rel=1e-12)
    # A generator works too (train.py streams the labels).
    assert median_frequency_weights((x for x in [a, b, c]), 4).tolist() == \
        pytest.approx(expected, rel=1e-12)


def test_median_frequency_weights_nothing_seen():
    w = median_frequency_weights([np.full((2, 2), 255, np.uint8)], 3)
    assert w.tolist() == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------- find_pairs

def touch_pair(root, split, stem, img_ext='.png'):
    for d, ext in ((split, img_ext), (f'{split}annot', '.png')):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        open(os.path.join(root, d, stem + ext), 'wb').close()


def test_find_pairs_list_with_foreign_absolute_paths(tmp_path):
    root = str(tmp_path)
    for stem in ('a', 'b', 'c'):
        touch_pair(root, 'train', stem)
    with open(os.path.join(root, 'train.txt'), 'w') as f:
        f.write('/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n')
        f.write('\n')
        f.write('train/b.png trainannot/b.png\n')
        f.write(f'{root}/train/c.png {root}/trainannot/c.png\n')
    pairs = find_pairs(root, 'train')
    assert pairs == [(os.path.join(root, 'train', f'{s}.png'),
                      os.path.join(root, 'trainannot', f'{s}.png')) for s in 'abc']


def test_find_pairs_list_with_windows_paths(tmp_path):
    root = str(tmp_path)
    touch_pair(root, 'val', 'x')
    (tmp_path / 'val.txt').write_text('C:\\data\\val\\x.png C:\\data\\valannot\\x.png\n')
    assert find_pairs(root, 'val') == [(os.path.join(root, 'val', 'x.png'),
                                        os.path.join(root, 'valannot', 'x.png'))]


def test_find_pairs_folder_layout(tmp_path):
    root = str(tmp_path)
    touch_pair(root, 'train', 'b')
    touch_pair(root, 'train', 'a', '.jpg')
    open(os.path.join(root, 'train', 'notes.txt'), 'w').close()        # not an image
    open(os.path.join(root, 'train', 'unlabelled.png'), 'w').close()   # no label
    pairs = find_pairs(root, 'train')
    assert pairs == [(os.path.join(root, 'train', 'a.jpg'),
                      os.path.join(root, 'trainannot', 'a.png')),
                     (os.path.join(root, 'train', 'b.png'),
                      os.path.join(root, 'trainannot', 'b.png'))]


def test_find_pairs_errors(tmp_path):
    root = str(tmp_path)
    with pytest.raises(DatasetError, match='no train.txt'):
        find_pairs(root, 'train')
    os.makedirs(os.path.join(root, 'train'))
    os.makedirs(os.path.join(root, 'trainannot'))
    with pytest.raises(DatasetError, match='no image/label pairs'):
        find_pairs(root, 'train')
    (tmp_path / 'train.txt').write_text('/SegNet/CamVid/train/gone.png '
                                        '/SegNet/CamVid/trainannot/gone.png\n')
    with pytest.raises(DatasetError, match='do not exist') as e:
        find_pairs(root, 'train')
    assert os.path.join(root, 'train', 'gone.png') in str(e.value)
    (tmp_path / 'train.txt').write_text('one two three\n')
    with pytest.raises(DatasetError, match='train.txt:1'):
        find_pairs(root, 'train')
    (tmp_path / 'train.txt').write_text('\n\n')
    with pytest.raises(DatasetError, match='no image/label pairs'):
        find_pairs(root, 'train')


def test_dataset_checks_labels(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, 'train'))
    os.makedirs(os.path.join(root, 'trainannot'))
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(os.path.join(root, 'train', 'a.png'))
    Image.fromarray(np.full((4, 6), 7, np.uint8), 'L').save(
        os.path.join(root, 'trainannot', 'a.png'))
    ds = SegmentationDataset(root, 'train', 3, IGN)
    with pytest.raises(DatasetError, match='outside 0..2'):
        ds[0]
    Image.fromarray(np.zeros((5, 6), np.uint8), 'L').save(
        os.path.join(root, 'trainannot', 'a.png'))
    with pytest.raises(DatasetError, match='label'):
        SegmentationDataset(root, 'train', 3, IGN)[0]


# ---------------------------------------------------------------------------- transforms

def sample_pair(h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    lbl = torch.randint(0, 3, (h, w), generator=g)
    lbl[lbl == 2] = IGN
    lbl[:, :w // 3] = 1        # asymmetric, so that a flip shows
    # The image encodes the label so that we can check they move together.
    img = (lbl.clamp(max=3) * 60).to(torch.uint8)[None].repeat(3, 1, 1)
    return img, lbl


def denorm(img):
    return img * torch.tensor(STD).view(3, 1, 1) * 255 + torch.tensor(MEAN).view(3, 1, 1) * 255


def test_identity_transform_only_normalises():
    img, lbl = sample_pair()
    out_img, out_lbl = PairTransform(MEAN, STD, IGN)(img, lbl)
    assert out_img.dtype == torch.float32
    assert torch.equal(out_lbl, lbl)
    assert torch.allclose(denorm(out_img), img.float(), atol=1e-3)


def test_labels_stay_exact_under_every_augmentation():
    img, lbl = sample_pair()
    values = set(lbl.unique().tolist())
    tf = PairTransform(MEAN, STD, IGN, scale=(0.5, 1.7), crop=(24, 40), flip=True, jitter=0.4,
                       resize=(40, 56))
    for seed in range(10):
        tf.generator.manual_seed(seed)
        out_img, out_lbl = tf(img, lbl)
        assert out_lbl.dtype == torch.int64
        assert out_img.shape == (3, 24, 40) and out_lbl.shape == (24, 40)
        assert set(out_lbl.unique().tolist()) <= values


def test_resize_is_nearest_for_labels():
    img, lbl = sample_pair(16, 24)
    _, out = PairTransform(MEAN, STD, IGN, resize=(32, 48))(img, lbl)
    assert torch.equal(out, lbl.repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_resize_image_only_for_evaluation():
    img, lbl = sample_pair(32, 48)
    out_img, out_lbl = PairTransform(MEAN, STD, IGN, resize=(16, 24), resize_label=False)(
        img, lbl)
    assert out_img.shape == (3, 16, 24)
    assert torch.equal(out_lbl, lbl)


def test_crop_pads_with_ignore_index():
    img, lbl = sample_pair()
    out_img, out_lbl = PairTransform(MEAN, STD, IGN, crop=(40, 60))(img, lbl)
    assert out_lbl.shape == (40, 60)
    # The padded image is at least as large as the crop, so the crop starts at (0, 0).
    assert torch.equal(out_lbl[:32, :48], lbl)
    assert (out_lbl[32:] == IGN).all() and (out_lbl[:, 48:] == IGN).all()
    assert torch.allclose(denorm(out_img)[:, 32:], torch.zeros(1), atol=1e-3)


def test_flip_moves_image_and_label_together():
    img, lbl = sample_pair()
    tf = PairTransform(MEAN, STD, IGN, flip=True)
    seen = set()
    for seed in range(20):
        tf.generator.manual_seed(seed)
        out_img, out_lbl = tf(img, lbl)
        flipped = torch.equal(out_lbl, lbl.flip(-1))
        assert flipped or torch.equal(out_lbl, lbl)
        ref = img.flip(-1) if flipped else img
        assert torch.allclose(denorm(out_img), ref.float(), atol=1e-3)
        seen.add(flipped)
    assert seen == {True, False}


def test_jitter_changes_only_the_image():
    img, lbl = sample_pair()
    img = torch.randint(0, 256, img.shape, dtype=torch.uint8)
    tf = PairTransform(MEAN, STD, IGN, jitter=0.5)
    out_img, out_lbl = tf(img, lbl)
    assert torch.equal(out_lbl, lbl)
    assert not torch.allclose(denorm(out_img), img.float(), atol=1.0)
    assert denorm(out_img).min() >= -1e-3 and denorm(out_img).max() <= 255 + 1e-3


def test_dusk_brightness_and_gamma_darken_only_the_image():
    img, lbl = sample_pair()
    img = torch.full_like(img, 128)
    tf = PairTransform(MEAN, STD, IGN, gamma=(1.5, 2.0))
    for seed in range(5):
        tf.generator.manual_seed(seed)
        out_img, out_lbl = tf(img, lbl)
        assert torch.equal(out_lbl, lbl)
        v = denorm(out_img)
        assert torch.allclose(v, v.flatten()[0], atol=1e-3)      # one curve for the image
        assert 255 * (128 / 255) ** 2.0 - 1e-3 <= float(v.flatten()[0]) <= \
            255 * (128 / 255) ** 1.5 + 1e-3
    tf = PairTransform(MEAN, STD, IGN, brightness=(0.3, 0.6))
    for seed in range(5):
        tf.generator.manual_seed(seed)
        v = denorm(tf(img, lbl)[0])
        assert 128 * 0.3 - 1e-3 <= float(v.min()) and float(v.max()) <= 128 * 0.6 + 1e-3


def test_same_seed_same_output():
    img, lbl = sample_pair()
    kw = {'scale': (0.6, 1.5), 'crop': (24, 32), 'flip': True, 'jitter': 0.3}
    a, b = PairTransform(MEAN, STD, IGN, **kw), PairTransform(MEAN, STD, IGN, **kw)
    outs = []
    for tf in (a, b):
        tf.generator.manual_seed(1234)
        outs.append([tf(img, lbl) for _ in range(3)])
    for (ia, la), (ib, lb) in zip(*outs):
        assert torch.equal(ia, ib) and torch.equal(la, lb)
    # Successive draws differ.
    assert not all(torch.equal(outs[0][0][0], x[0]) for x in outs[0][1:])


# -------------------------------------------------------------------------------- config

def test_load_config_defaults_file_and_overrides(tmp_path):
    cfg = load_config()
    assert cfg == train_cli.DEFAULTS
    path = tmp_path / 'c.yaml'
    path.write_text('architecture: segnet_basic\nlr: 0.1\n')
    cfg = load_config(str(path), ['lr=0.5', 'input_size=[64, 80]', 'crop=null'])
    assert cfg['architecture'] == 'segnet_basic'
    assert cfg['lr'] == 0.5 and cfg['input_size'] == [64, 80] and cfg['crop'] is None


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match='unknown config keys learning_rate') as e:
        load_config(None, ['learning_rate=0.1'])
    assert 'lr' in str(e.value)   # the valid keys are listed
    with pytest.raises(ConfigError, match='optimizer must be one of sgd, adamw') as e:
        load_config(None, ['optimizer=adam'])
    assert "'adam'" in str(e.value)
    for bad in ('0', '-3', '2.5', 'ten'):
        with pytest.raises(ConfigError, match='epochs must be a positive integer'):
            load_config(None, [f'epochs={bad}'])
    with pytest.raises(ConfigError, match='batch_size'):
        load_config(None, ['batch_size=0'])
    with pytest.raises(ConfigError, match='key=value'):
        load_config(None, ['lr'])
    with pytest.raises(ConfigError, match='cannot read'):
        load_config(str(tmp_path / 'missing.yaml'))
    (tmp_path / 'list.yaml').write_text('- 1\n- 2\n')
    with pytest.raises(ConfigError, match='mapping'):
        load_config(str(tmp_path / 'list.yaml'))
    (tmp_path / 'bad.yaml').write_text('lr: [1\n')
    with pytest.raises(ConfigError, match='bad.yaml'):
        load_config(str(tmp_path / 'bad.yaml'))


# ------------------------------------------------------------------------------ training

def test_training_learns_and_writes_artefacts(trained, dataset):
    names = set(os.listdir(trained))
    for f in ('last.ckpt', 'best.safetensors', 'curves.png', 'confusion.png', 'history.json',
              'config.yaml'):
        assert f in names, f
    assert not [n for n in names if '.tmp' in n], 'temporary file left'
    with open(trained / 'history.json') as f:
        history = json.load(f)
    assert [h['epoch'] for h in history] == [1, 2, 3, 4, 5, 6]
    losses = [h['loss'] for h in history]
    assert losses[-1] < 0.8 * losses[0], losses
    assert all('miou' in h and 'bf' in h for h in history)
    model, info = load_model_file(trained / 'best.safetensors')
    assert info.architecture == 'segnet' and info.num_classes == 3
    assert info.class_names == ['background', 'red', 'green']
    assert info.ignore_index == IGN and info.input_size == [32, 48]
    best = max(history, key=lambda h: h['miou'])
    assert info.metrics['epoch'] == best['epoch']
    assert info.metrics['miou'] == pytest.approx(best['miou'], abs=1e-4)
    state = load_state(trained / 'last.ckpt')
    assert state['epoch'] == 6 and state['config']['width'] == 0.125
    with open(trained / 'config.yaml') as f:
        assert 'architecture: segnet' in f.read()


@pytest.fixture(scope='module')
def straight_run(dataset, tmp_path_factory):
    """Train 4 epochs without interruption (augmentation on, so that its seeding counts)."""
    data, classes = dataset
    out = tmp_path_factory.mktemp('straight')
    assert train_cli.main(train_args(data, out, classes, 4, augment=True)) == 0
    return out


# Where the test stops the run before killing it: mid-epoch (after the first of the two
# optimizer steps of epoch 2), and inside the write of epoch 2's checkpoint (half of the
# temporary file on disk, not yet renamed). engine.pause_for_test is the test-only hook.
KILL_POINTS = {'mid-epoch': 'epoch2.batch1', 'in-checkpoint-write': 'checkpoint2'}


@pytest.mark.parametrize('where', list(KILL_POINTS))
def test_resume_after_kill_matches_uninterrupted_run(dataset, straight_run, tmp_path, capsys,
                                                     where):
    data, classes = dataset
    epochs = 4
    killed = tmp_path / 'killed'
    point = KILL_POINTS[where]
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               SEGNET_TRAIN_TEST_PAUSE=point,
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen(
        [sys.executable, '-m', 'segnet_ros.training.train',
         *train_args(data, killed, classes, 2, augment=True), '--epochs', str(epochs)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    paused = f'segnet_train: test pause at {point}\n'
    deadline = time.monotonic() + 120
    try:
        while paused not in lines and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert paused in lines, ''.join(lines)[-2000:]
        # Paused, not finished: the kill lands inside epoch 2 or inside its checkpoint write.
        assert proc.poll() is None, ''.join(lines)[-2000:]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(5)
        proc.stdout.close()
    out = ''.join(lines)
    # Epoch 1 finished; epoch 2 finished only when the kill came in its checkpoint write.
    assert 'epoch 1: loss' in out and 'epoch 3: loss' not in out, out
    assert ('epoch 2: loss' in out) == (where == 'in-checkpoint-write'), out
    ckpt = killed / 'last.ckpt'
    assert load_state(ckpt)['epoch'] == 1  # the last whole checkpoint
    temporary = [p for p in killed.iterdir() if p.name.startswith('last.ckpt.tmp')]
    if where == 'in-checkpoint-write':
        # The write was cut in half: the temporary file is there, unreadable, and not used.
        assert len(temporary) == 1, temporary
        assert 0 < temporary[0].stat().st_size < ckpt.stat().st_size
        with pytest.raises(ModelFileError):
            load_state(temporary[0])
    else:
        assert temporary == []

    capsys.readouterr()
    rc = train_cli.main(train_args(data, killed, classes, 2, '--epochs', str(epochs),
                                   '--resume', str(ckpt), augment=True))
    assert rc == 0
    log = capsys.readouterr().out
    assert f'resumed from {ckpt} at epoch 1,' in log, log
    # Only the epochs after the checkpoint ran again.
    ran = [e for e in range(1, epochs + 1) if f'epoch {e}: loss' in log]
    assert ran == [2, 3, 4], log

    a, b = load_state(straight_run / 'last.ckpt'), load_state(ckpt)
    assert a['epoch'] == b['epoch'] == epochs
    assert a['model'].keys() == b['model'].keys()
    for k in a['model']:
        assert torch.equal(a['model'][k], b['model'][k]), f'{k} differs after resuming ({where})'
    for pid, s in a['optimizer']['state'].items():
        for name, t in s.items():
            assert torch.equal(t, b['optimizer']['state'][pid][name]), (pid, name)
    assert a['scheduler'] == b['scheduler']
    assert a['best'] == b['best']
    assert [h['loss'] for h in a['history']] == [h['loss'] for h in b['history']]
    assert [h['epoch'] for h in b['history']] == list(range(1, epochs + 1))


def test_resume_goes_on_with_the_config_saved_in_the_checkpoint(dataset, straight_run, tmp_path,
                                                                capsys):
    data, _ = dataset
    run = tmp_path / 'run'
    shutil.copytree(straight_run, run)
    ckpt = run / 'last.ckpt'
    capsys.readouterr()
    # Neither --config nor the --set options the run was started with: the checkpoint's own.
    assert train_cli.main(['--data', str(data), '--out', str(run), '--resume', str(ckpt),
                           '--epochs', '5']) == 0
    log = capsys.readouterr().out
    assert f'resumed from {ckpt} at epoch 4,' in log, log
    assert [e for e in range(1, 6) if f'epoch {e}: loss' in log] == [5], log
    cfg = load_state(ckpt, tensors=False)['config']
    assert (cfg['width'], cfg['input_size'], cfg['epochs'], cfg['crop']) == \
        (0.125, [32, 48], 5, [32, 48])

    # A config for another network gets one line naming both, not a load_state_dict dump.
    other = tmp_path / 'other.yaml'
    other.write_text(f"width: 0.25\nclasses: {cfg['classes']}\ninput_size: [32, 48]\n"
                     'workers: 0\nepochs: 6\n')
    for extra in (['--config', str(other)], ['--set', 'width=0.25']):
        argv = ['--data', str(data), '--out', str(run), '--resume', str(ckpt), *extra]
        assert train_cli.main(argv) == 2, extra
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and 'segnet x0.125' in lines[0] and 'x0.25' in lines[0], err


def test_train_main_errors_are_one_line(dataset, tmp_path, capsys):
    data, classes = dataset
    cases = [
        ['--config', str(tmp_path / 'nope.yaml'), '--data', str(data), '--out',
         str(tmp_path / 'o1')],
        train_args(tmp_path / 'no_such_dataset', tmp_path / 'o2', classes, 1),
        train_args(data, tmp_path / 'o3', tmp_path / 'no_classes.yaml', 1),
        train_args(data, tmp_path / 'o4', classes, 1, '--set', 'optimizer=rmsprop'),
        train_args(data, tmp_path / 'o5', classes, 1, '--resume', str(tmp_path / 'x.ckpt')),
    ]
    for argv in cases:
        assert train_cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('segnet_train: error:'), err
        assert 'Traceback' not in err


# -------------------------------------------------------------------------------- export

def test_export_onnx_matches_pytorch(trained, tmp_path):
    ort = pytest.importorskip('onnxruntime')
    src = trained / 'best.safetensors'
    out = tmp_path / 'model.onnx'
    export_onnx(str(src), str(out))
    model, info = load_model_file(src)
    sess = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta['architecture'] == 'segnet' and 'background' in meta['class_names']
    torch.manual_seed(0)
    for size in ((32, 48), (33, 47)):
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            ref = model(x).numpy()
        (got,) = sess.run(['logits'], {'image': x.numpy()})
        assert got.shape == (2, 3, *size)
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match='opset'):
        export_onnx(str(src), str(tmp_path / 'old.onnx'), opset=16)
    assert not (tmp_path / 'old.onnx').exists()


def test_checkpoint_to_model_file(trained, tmp_path):
    out = tmp_path / 'from_ckpt.safetensors'
    checkpoint_to_model_file(str(trained / 'last.ckpt'), str(out))
    model, info = load_model_file(out)
    state = load_state(trained / 'last.ckpt')
    assert info.num_classes == 3 and info.class_names == ['background', 'red', 'green']
    assert info.input_size == [32, 48]
    loaded = model.state_dict()
    assert loaded.keys() == state['model'].keys()
    for k, v in state['model'].items():
        assert torch.equal(loaded[k], v), k


# ---------------------------------------------------------------------------------- eval

def test_eval_main_writes_json(trained, dataset, tmp_path, capsys):
    data, _ = dataset
    out = tmp_path / 'metrics.json'
    png = tmp_path / 'confusion.png'
    rc = evaluate_cli.main([str(trained / 'best.safetensors'), '--data', str(data),
                            '--split', 'val', '--device', 'cpu', '--json', str(out),
                            '--confusion', str(png), '--precision', 'fp32'])
    assert rc == 0
    assert 'mIoU' in capsys.readouterr().out
    with open(out) as f:
        res = json.load(f)
    for key in ('global_acc', 'class_acc', 'miou', 'bf'):
        assert 0.0 <= res[key] <= 1.0, key
    assert res['images'] == 4 and res['class_names'] == ['background', 'red', 'green']
    assert len(res['confusion']) == 3 and png.exists()
    # The same model on the same split scores what training recorded for it.
    _, info = load_model_file(trained / 'best.safetensors')
    for key in ('global_acc', 'class_acc', 'miou', 'bf'):
        assert res[key] == pytest.approx(info.metrics[key], abs=1e-4), key


def test_eval_scores_at_label_resolution(trained, dataset):
    data, _ = dataset
    # The net runs at 16 x 24; its logits are upsampled to the 32 x 48 labels.
    res, mat, _ = evaluate_cli.evaluate_model_file(
        str(trained / 'best.safetensors'), str(data), 'val', 'cpu', input_size=(16, 24))
    valid = sum(int((np.array(Image.open(p)) != IGN).sum())
                for _, p in find_pairs(str(data), 'val'))
    assert valid == 4 * 32 * 48 - 2 * 15
    assert res['pixels'] == valid == int(mat.sum())


@pytest.mark.parametrize('upsample', ['mask', 'logits'])
def test_eval_scores_as_the_bag_evaluation_does(trained, dataset, tmp_path, upsample):
    data, _ = dataset
    model = str(trained / 'best.safetensors')
    # The net runs at 16 x 24 on 32 x 48 images, so the upsampling matters.
    res, mat, _ = evaluate_cli.evaluate_model_file(model, str(data), 'val', 'cpu',
                                                   input_size=(16, 24), upsample=upsample)
    dataset_to_bag(str(data), 'val', str(tmp_path / 'bag'), progress=False)
    seg = Segmenter(model, device='cpu', input_size=(16, 24), upsample=upsample)
    scorer, bag_res, _ = offline_evaluate(str(tmp_path / 'bag'), seg, '/camera/image_raw',
                                          '/camera/labels')
    assert torch.equal(mat, scorer.metrics.cm.mat)
    for key in ('global_acc', 'class_acc', 'miou', 'bf', 'pixels'):
        assert res[key] == bag_res[key], key
    assert res['images'] == bag_res['frames_scored'] == 4


def test_eval_upsamples_the_mask_by_default_as_the_node_does(trained, dataset):
    data, _ = dataset
    args = evaluate_cli.get_args_parser().parse_args(['m.safetensors', '--data', 'd'])
    assert args.upsample == 'mask'
    model = str(trained / 'best.safetensors')
    default, mat, _ = evaluate_cli.evaluate_model_file(model, str(data), 'val', 'cpu',
                                                       input_size=(16, 24))
    _, mask_mat, _ = evaluate_cli.evaluate_model_file(model, str(data), 'val', 'cpu',
                                                      input_size=(16, 24), upsample='mask')
    _, logits_mat, _ = evaluate_cli.evaluate_model_file(model, str(data), 'val', 'cpu',
                                                        input_size=(16, 24), upsample='logits')
    assert torch.equal(mat, mask_mat) and not torch.equal(mat, logits_mat)


def test_eval_main_input_size(trained, dataset, tmp_path, capsys):
    # --input-size WxH runs the network at that size, as inference_width/height do.
    data, _ = dataset
    model = str(trained / 'best.safetensors')
    out = tmp_path / 'metrics.json'
    rc = evaluate_cli.main([model, '--data', str(data), '--device', 'cpu', '--input-size',
                            '24x16', '--json', str(out), '--no-bf'])
    assert rc == 0 and 'network input 24x16' in capsys.readouterr().out
    with open(out) as f:
        res = json.load(f)
    want, mat, _ = evaluate_cli.evaluate_model_file(model, str(data), 'val', 'cpu',
                                                    boundary=False, input_size=(16, 24))
    default, default_mat, _ = evaluate_cli.evaluate_model_file(model, str(data), 'val', 'cpu',
                                                               boundary=False)
    assert res['input_size'] == want['input_size'] == [16, 24] != default['input_size']
    assert res['confusion'] == mat.tolist() != default_mat.tolist()
    with pytest.raises(SystemExit) as e:
        evaluate_cli.main([model, '--data', str(data), '--input-size', '16'])
    assert e.value.code == 2 and "'16' is not WxH" in capsys.readouterr().err


def test_export_input_size_sets_the_size_the_node_runs_at(trained, tmp_path, capsys):
    # From a model file and from a checkpoint: the file says where the node resizes frames to,
    # and keeps the size it was trained at.
    src = trained / 'best.safetensors'
    for source, out in ((src, tmp_path / 'a.safetensors'),
                        (trained / 'last.ckpt', tmp_path / 'b.safetensors')):
        assert export_cli.main([str(source), '--model-file', str(out),
                                '--input-size', '64x40']) == 0
        _, info = load_model_file(out)
        assert info.input_size == [40, 64] and info.training['input_size'] == [32, 48]
        assert Segmenter(str(out), device='cpu').input_size == (40, 64)
    # The weights are the source's, untouched.
    a, b = load_model_file(src)[0].state_dict(), load_model_file(tmp_path / 'a.safetensors')[0]
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.items())
    # Without --input-size a model file is copied as it is.
    assert export_cli.main([str(src), '--model-file', str(tmp_path / 'c.safetensors')]) == 0
    assert load_model_file(tmp_path / 'c.safetensors')[1].input_size == [32, 48]
    capsys.readouterr()
    assert export_cli.main([str(src), '--onnx', str(tmp_path / 'x.onnx'),
                            '--input-size', '64x40']) == 2
    assert capsys.readouterr().err.strip() == \
        'segnet_export: error: --input-size goes with --model-file'
    with pytest.raises(SystemExit) as e:
        export_cli.main([str(src), '--model-file', str(tmp_path / 'd.safetensors'),
                         '--input-size', '64'])
    assert e.value.code == 2 and "'64' is not WxH" in capsys.readouterr().err


def test_eval_main_missing_model(dataset, tmp_path, capsys):
    data, _ = dataset
    rc = evaluate_cli.main([str(tmp_path / 'missing.safetensors'), '--data', str(data)])
    assert rc == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('segnet_eval: error:')
    assert 'missing.safetensors' in lines[0]


def test_recompute_bn_sets_exact_batch_statistics():
    from segnet_ros.training.engine import recompute_bn
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4),
                              torch.nn.Dropout(0.5))
    data = [(torch.randn(2, 3, 5, 6) * 3 + 1, None) for _ in range(3)]
    recompute_bn(net, data, torch.device('cpu'))
    with torch.no_grad():
        feats = [net[0](x) for x, _ in data]
    bn = net[1]
    # The average over batches of each batch's statistics (equal-sized batches).
    torch.testing.assert_close(bn.running_mean,
                               torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack(
        [f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0))
    assert bn.momentum == 0.1 and not net.training


def test_init_starts_from_a_model_file(dataset, trained, tmp_path, capsys):
    data, classes = dataset
    start, _ = load_model_file(str(trained / 'best.safetensors'))
    out = tmp_path / 'second'
    # lr 0: the weights stay where --init put them (BatchNorm statistics still move).
    assert train_cli.main(train_args(data, out, classes, 1, '--set', 'lr=0',
                                     '--init', str(trained / 'best.safetensors'))) == 0
    state = load_state(str(out / 'last.ckpt'))
    for k, v in start.state_dict().items():
        if 'running' not in k and 'num_batches' not in k:
            assert torch.equal(state['model'][k], v), k
    assert train_cli.main(train_args(data, tmp_path / 'bad', classes, 1, '--set', 'width=0.25',
                                     '--init', str(trained / 'best.safetensors'))) == 2
    assert 'segnet x0.125' in capsys.readouterr().err
    # A Bayesian model starts from its plain counterpart (dropout holds no weights), and
    # the last epoch's model file is written beside the best one.
    bayes = tmp_path / 'bayes'
    assert train_cli.main(train_args(data, bayes, classes, 1, '--set', 'lr=0', '--set',
                                     'architecture=bayesian_segnet',
                                     '--init', str(trained / 'best.safetensors'))) == 0
    model, info = load_model_file(str(bayes / 'last.safetensors'))
    assert info.architecture == 'bayesian_segnet' and model.bayesian
    assert info.metrics['epoch'] == 1
    for k, v in start.state_dict().items():
        if 'running' not in k and 'num_batches' not in k:
            assert torch.equal(model.state_dict()[k], v), k


CAMVID = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                      'shared', 'datasets', 'camvid')


@pytest.mark.skipif(not os.path.isfile(os.path.join(CAMVID, 'class_weights.json')),
                    reason='CamVid is not beside this checkout (../shared/datasets/camvid)')
def test_median_frequency_weights_match_the_camvid_reference():
    with open(os.path.join(CAMVID, 'class_weights.json')) as f:
        ref = json.load(f)
    ds = SegmentationDataset(CAMVID, 'train', 11, 11, cache=False)
    weights = median_frequency_weights((ds.load(i)[1] for i in range(len(ds))), 11)
    np.testing.assert_allclose(np.round(weights, 3), np.round(ref['class_weights'], 3),
                               atol=1e-3)
