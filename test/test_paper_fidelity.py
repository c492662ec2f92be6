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

"""Options that follow the paper and its Caffe prototxts; tiny generated data only."""

import glob
import json
import os

import numpy as np
from PIL import Image
import pytest
from safetensors.torch import load_file
from safetensors.torch import save_file
from segnet_ros import modelfile
from segnet_ros.nets import build_model
from segnet_ros.nets import he_init
from segnet_ros.nets.segnet import RawPixelLRN
from segnet_ros.training import engine
from segnet_ros.training import evaluate as evaluate_cli
from segnet_ros.training import train as train_cli
from segnet_ros.training.export import recompute_bn_file
from segnet_ros.training.train import load_config
from segnet_ros.training.train import make_model
from segnet_ros.training.train import param_groups
from segnet_ros.training.train import ShardSampler
import torch

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IGN = 255


def normalise(raw):
    return (raw / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


# ------------------------------------------------------------------------ LRN on raw pixels

def test_lrn_acts_on_raw_pixels_as_caffe():
    raw = torch.rand(2, 3, 9, 11) * 255
    x = normalise(raw)
    basic = build_model('segnet_basic', 3, width=0.125)
    assert isinstance(basic.stem, RawPixelLRN)
    # Caffe's across-channel LRN on the raw values: b = a / (1 + alpha / n * sum a^2)^beta,
    # the sum over a window of 5 channels (zero padded), here all 3.
    scale = (1 + 1e-4 / 5 * (raw ** 2).sum(1, keepdim=True)) ** 0.75
    torch.testing.assert_close(basic.stem(x), normalise(raw / scale), rtol=1e-4, atol=1e-4)
    # It matters there (bright pixels lose more than half), and is next to nothing on the
    # normalised input, which is why the reference applies it to raw pixels.
    assert float((1 / scale).min()) < 0.5
    old = build_model('segnet_basic', 3, width=0.125, lrn='normalised').stem
    ratio = old(x) / x
    assert float((ratio - 1).abs().max()) < 1e-3


def test_lrn_option_round_trips_through_the_model_file(tmp_path):
    for lrn in ('raw', 'normalised'):
        model = build_model('segnet_basic', 3, width=0.125, lrn=lrn).eval()
        path = tmp_path / f'{lrn}.safetensors'
        modelfile.save_model_file(path, model, modelfile.default_info('segnet_basic', 3,
                                                                      width=0.125))
        loaded, info = modelfile.load_model_file(path)
        assert info.net_options == {'lrn': lrn}
        x = torch.randn(1, 3, 12, 16)
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))
    # Files written before the option have no net_options: their LRN saw normalised input.
    tensors = load_file(str(tmp_path / 'raw.safetensors'))
    info = modelfile.read_model_info(tmp_path / 'raw.safetensors')
    header = {k: json.dumps(v) for k, v in info.to_dict().items() if k != 'net_options'}
    header.update(format=modelfile.FORMAT, format_version=modelfile.FORMAT_VERSION)
    save_file(tensors, str(tmp_path / 'old.safetensors'), metadata=header)
    old, _ = modelfile.load_model_file(tmp_path / 'old.safetensors')
    assert isinstance(old.stem, torch.nn.LocalResponseNorm)


def test_raw_lrn_needs_the_metadata_normalisation(tmp_path):
    model = build_model('segnet_basic', 3, width=0.125, mean=(0.5, 0.5, 0.5),
                        std=(0.25, 0.25, 0.25))
    with pytest.raises(modelfile.ModelFileError, match='de-normalises'):
        modelfile.save_model_file(tmp_path / 'x.safetensors', model,
                                  modelfile.default_info('segnet_basic', 3, width=0.125))
    with pytest.raises(ValueError, match='lrn must be one of raw, normalised'):
        build_model('segnet_basic', 3, lrn='local')


# ------------------------------------------------------------------------------- He init

def test_he_init_every_conv():
    torch.manual_seed(0)
    model = he_init(build_model('segnet', 11, width=0.5))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 26          # 13 encoder, 12 decoder, the classifier
    for m in convs:
        fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        assert torch.equal(m.bias, torch.zeros_like(m.bias))
        assert float(m.weight.std()) == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)
    cfg = load_config(None, ['width=0.5'])
    assert cfg['weight_init'] == 'msra'
    msra = make_model(cfg, 11)
    plain = make_model(dict(cfg, weight_init='pytorch'), 11)
    w0, w1 = msra.encoder[0][0][0].weight, plain.encoder[0][0][0].weight
    assert float(w0.std()) > 2 * float(w1.std())     # PyTorch's default is much smaller


# ------------------------------------------------------------------------ decay exemptions

def test_decay_exemptions():
    net = build_model('segnet_basic', 3, width=0.125)
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    ids = {id(p) for p in net.parameters()}

    def groups(mode):
        decay, no_decay = param_groups(net, {'decay_exempt': mode, 'weight_decay': 5e-4})
        assert decay['weight_decay'] == 5e-4 and no_decay['weight_decay'] == 0.0
        got = {id(p) for p in decay['params']}, {id(p) for p in no_decay['params']}
        assert got[0] | got[1] == ids and not got[0] & got[1]
        return got[1]
    # Caffe's decay_mult 0: conv biases and BatchNorm shifts, not BatchNorm scales.
    assert groups('bias_and_bn_shift') == {id(m.bias) for m in convs + bn}
    assert groups('all_1d') == {id(m.bias) for m in convs + bn} | {id(m.weight) for m in bn}
    assert groups('none') == set()
    assert load_config()['decay_exempt'] == 'bias_and_bn_shift'


# ------------------------------------------------------------------------------- dropout

def test_dropout_at_the_end_of_the_deeper_layers():
    plain = build_model('segnet', 3, width=0.125)
    net = build_model('segnet', 3, width=0.125, dropout=0.5)
    drops = [m for m in net.modules() if type(m) is torch.nn.Dropout]
    assert len(drops) == 6 and all(m.p == 0.5 for m in drops)
    # No parameters of its own: a model file of it is a plain segnet.
    assert net.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(1, 3, 32, 32)
    net.train()
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))
    assert len([m for m in build_model('segnet_basic', 3, 0.125, dropout=0.3).modules()
                if type(m) is torch.nn.Dropout]) == 4
    with pytest.raises(ValueError, match='already drops out'):
        build_model('bayesian_segnet', 3, 0.125, dropout=0.5)
    with pytest.raises(ValueError, match=r'dropout must be in \[0, 1\)'):
        build_model('segnet', 3, 0.125, dropout=1.0)


# ------------------------------------------------------------------------------ configs

def test_configs_load_and_the_tutorial_solver_is_named_for_what_it_is():
    assert not os.path.exists(os.path.join(ROOT, 'config', 'train_segnet_paper.yaml'))
    for path in glob.glob(os.path.join(ROOT, 'config', 'train_*.yaml')):
        load_config(path)
    tut = load_config(os.path.join(ROOT, 'config', 'train_segnet_tutorial.yaml'))
    assert (tut['select_on'], tut['recompute_bn'], tut['weight_init'], tut['decay_exempt'],
            tut['optimizer'], tut['lr']) == \
        ('global_acc', True, 'msra', 'bias_and_bn_shift', 'sgd', 0.001)
    basic = load_config(os.path.join(ROOT, 'config', 'train_segnet_basic_paper.yaml'))
    assert basic['lrn'] == 'raw' and basic['lr'] == 0.1
    light = load_config(os.path.join(ROOT, 'config', 'train_light.yaml'))
    assert (light['weight_init'], light['decay_exempt'], light['select_on']) == \
        ('pytorch', 'all_1d', 'miou')


# ----------------------------------------------------- distributed: every image scored once

@pytest.mark.parametrize('n,world', [(101, 2), (5, 3), (2, 4)])
def test_shard_sampler_scores_every_image_once(n, world):
    shards = [list(ShardSampler(n, r, world)) for r in range(world)]
    assert sorted(i for s in shards for i in s) == list(range(n))
    assert [len(ShardSampler(n, r, world)) for r in range(world)] == [len(s) for s in shards]


# ------------------------------------------------ training: BN recompute, selection metric

def write_dataset(root, n_train=6, n_val=3, h=24, w=32):
    rng = np.random.default_rng(1)
    for split, n in (('train', n_train), ('val', n_val)):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f'{split}annot'))
        for i in range(n):
            lbl = np.zeros((h, w), np.uint8)
            y, x = rng.integers(0, h - 8), rng.integers(0, w - 10)
            lbl[y:y + 8, x:x + 10] = 1
            img = np.where(lbl[..., None] == 1, 190, 60).astype(np.float64)
            img = np.clip(img + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(os.path.join(root, split, f'{i}.png'))
            Image.fromarray(lbl, 'L').save(os.path.join(root, f'{split}annot', f'{i}.png'))
    with open(os.path.join(root, 'classes.yaml'), 'w') as f:
        f.write('classes:\n  - {name: a, color: [60, 60, 60]}\n'
                f'  - {{name: b, color: [190, 190, 190]}}\nignore_index: {IGN}\n')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('fidelity')
    write_dataset(str(root))
    return root


def argv(data, out, epochs, *sets):
    args = ['--data', str(data), '--out', str(out), '--threads', '1']
    base = {'classes': data / 'classes.yaml', 'width': 0.125, 'input_size': '[24, 32]',
            'batch_size': 2, 'workers': 0, 'epochs': epochs, 'optimizer': 'adamw',
            'lr': 0.01, 'amp': 'false', 'progress': 'false'}
    for k, v in base.items():
        args += ['--set', f'{k}={v}']
    for s in sets:
        args += ['--set', s]
    return args


def test_training_recomputes_bn_before_evaluation(data, tmp_path):
    out = tmp_path / 'bn'
    assert train_cli.main(argv(data, out, 2, 'recompute_bn=true')) == 0
    state = modelfile.load_state(str(out / 'last.ckpt'))
    # The statistics saved after the last evaluation are the training set's, recomputed.
    net = make_model(dict(state['config']), 2)
    net.load_state_dict(state['model'])
    cfg = state['config']
    classes = {'ignore_index': IGN, 'num_classes': 2}
    train_set, *_ = train_cli.build_loaders(cfg, str(data), classes, 0, 1)
    engine.recompute_bn(net, train_cli.bn_loader(cfg, train_set), torch.device('cpu'))
    for k, v in net.state_dict().items():
        if 'running' in k:
            torch.testing.assert_close(state['model'][k], v, rtol=1e-5, atol=1e-6)
    _, info = modelfile.load_model_file(str(out / 'best.safetensors'))
    assert info.bn_statistics == 'recomputed on the 6 training images'


def test_selection_metric_is_configurable(data, tmp_path, capsys):
    out = tmp_path / 'g'
    assert train_cli.main(argv(data, out, 3, 'select_on=global_acc')) == 0
    assert 'best global_acc' in capsys.readouterr().out
    history = json.loads((out / 'history.json').read_text())
    best = max(history, key=lambda h: h['global_acc'])   # first of the best on a tie
    _, info = modelfile.load_model_file(str(out / 'best.safetensors'))
    assert info.metrics['selected_on'] == 'global_acc'
    assert info.metrics['epoch'] == best['epoch']
    with pytest.raises(train_cli.ConfigError, match='select_on must be one of'):
        load_config(None, ['select_on=loss'])


def test_eval_recomputes_bn_on_request(data, tmp_path, capsys):
    out = tmp_path / 'run'
    assert train_cli.main(argv(data, out, 1)) == 0
    model = str(out / 'best.safetensors')
    ref = tmp_path / 'bn.safetensors'
    recompute_bn_file(model, str(data), str(ref))
    want, _, _ = evaluate_cli.evaluate_model_file(str(ref), str(data), 'val', 'cpu')
    js = tmp_path / 'm.json'
    assert evaluate_cli.main([model, '--data', str(data), '--device', 'cpu',
                              '--recompute-bn', '--json', str(js)]) == 0
    assert 'recomputed on train (6 images)' in capsys.readouterr().out
    got = json.loads(js.read_text())
    assert got['bn_statistics'] == 'recomputed on train (6 images)'
    for key in ('global_acc', 'class_acc', 'miou', 'bf'):
        assert got[key] == want[key], key
    # The model file itself is left alone.
    assert modelfile.read_model_info(model).bn_statistics is None
