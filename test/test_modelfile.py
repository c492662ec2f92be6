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

"""Tests for the safetensors model files and training-state files: nothing ever unpickles."""

import dataclasses
import json
import os
import pickle

import pytest
from safetensors import safe_open
from safetensors.torch import save_file
from segnet_ros.modelfile import default_info
from segnet_ros.modelfile import load_model_file
from segnet_ros.modelfile import load_state
from segnet_ros.modelfile import ModelFileError
from segnet_ros.modelfile import ModelInfo
from segnet_ros.modelfile import read_model_info
from segnet_ros.modelfile import save_model_file
from segnet_ros.modelfile import save_state
from segnet_ros.nets import build_model
import torch

# Tiny models run fastest on one thread, and a busy machine makes extra threads wait.
torch.set_num_threads(1)

K = 4


def make_info(**kw):
    info = default_info(
        'segnet', K, width=0.125,
        class_names=['sky', 'road', 'car', 'person'],
        class_colors=[[128, 128, 128], [128, 64, 128], [64, 0, 128], [64, 64, 0]],
        ignore_index=11, input_size=[32, 48], mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3],
        metrics={'miou': 0.5, 'ious': [0.1, 0.2, 0.3, 0.4], 'split': 'val', 'epoch': 7})
    return dataclasses.replace(info, **kw)


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    model = build_model('segnet', K, width=0.125)
    # Make BN statistics non-trivial so that the buffers are checked too.
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 48))
    model.eval()
    path = tmp_path / 'model.safetensors'
    save_model_file(path, model, make_info())
    return path, model


def read_raw(path):
    with safe_open(str(path), framework='pt') as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def expect_error(path, *words):
    with pytest.raises(ModelFileError) as e:
        load_model_file(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_round_trip_preserves_outputs_and_metadata(model_file):
    path, model = model_file
    loaded, info = load_model_file(path)
    assert not loaded.training
    x = torch.randn(2, 3, 33, 47)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    expected = make_info()
    for key in ('architecture', 'width', 'num_classes', 'class_names', 'class_colors',
                'ignore_index', 'input_size', 'mean', 'std', 'metrics'):
        assert getattr(info, key) == getattr(expected, key), key
    assert info.class_names == ['sky', 'road', 'car', 'person']
    assert info.input_size == [32, 48]
    assert read_model_info(path) == info
    assert not [p for p in os.listdir(path.parent) if '.tmp' in p], 'temporary file left'


def test_misspelt_field_fails():
    info = make_info()
    with pytest.raises(AttributeError):
        info.num_clases
    with pytest.raises(AttributeError):
        info.input_sise = [64, 64]
    with pytest.raises(TypeError):
        make_info(class_name=['a', 'b', 'c', 'd'])
    with pytest.raises(TypeError, match='ModelInfo'):
        save_model_file('x.safetensors', build_model('segnet', K, width=0.125),
                        info.to_dict())


def test_optional_and_unknown_header_keys_round_trip(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    assert 'training' not in meta and 'bn_statistics' not in meta  # unset: not written
    meta['calibration'] = json.dumps({'camera': 'front'})  # written by a newer version
    meta['bn_statistics'] = json.dumps('recomputed on train (367 images)')
    src = tmp_path / 'newer.safetensors'
    save_file(tensors, str(src), metadata=meta)
    model, info = load_model_file(src)
    assert info.extra == {'calibration': {'camera': 'front'}}
    assert info.bn_statistics == 'recomputed on train (367 images)' and info.training is None
    out = tmp_path / 'again.safetensors'
    save_model_file(out, model, info)
    assert read_raw(out)[1] == meta
    assert read_model_info(out) == info == ModelInfo.from_dict(info.to_dict())


def test_round_trip_segnet_basic_bayesian(tmp_path):
    model = build_model('bayesian_segnet_basic', 3, width=0.125).eval()
    path = tmp_path / 'b.safetensors'
    save_model_file(path, model, default_info('bayesian_segnet_basic', 3, width=0.125))
    loaded, info = load_model_file(path)
    assert loaded.bayesian
    x = torch.randn(1, 3, 17, 23)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


class Evil:
    """Unpickling this would write the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_write_marker, (self.marker,))


def _write_marker(path):
    with open(path, 'w') as f:
        f.write('pwned')
    return {}


@pytest.mark.parametrize('name', ['evil.safetensors', 'evil.pt'])
@pytest.mark.parametrize('how', ['pickle', 'pickle0', 'torch_zip', 'torch_legacy'])
def test_pickles_are_refused_and_never_run(tmp_path, name, how):
    marker = tmp_path / 'marker'
    path = tmp_path / name
    payload = {'state_dict': Evil(marker), 'weights': torch.zeros(3)}
    if how == 'pickle':
        with open(path, 'wb') as f:
            pickle.dump(payload, f)
    elif how == 'pickle0':
        with open(path, 'wb') as f:
            pickle.dump(Evil(marker), f, protocol=0)
    elif how == 'torch_zip':
        torch.save(payload, path)
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    assert not marker.exists()
    msg = expect_error(path)
    if how != 'pickle0':  # protocol 0 has no magic; it fails as "not safetensors"
        assert 'pickle' in msg and 'refusing' in msg, msg
    with pytest.raises(ModelFileError):
        read_model_info(path)
    with pytest.raises(ModelFileError):
        load_state(path)
    assert not marker.exists(), 'loading ran code from a pickle'


def test_metadata_num_classes_disagrees_with_tensors(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    meta.update(num_classes='5', class_names=json.dumps(['a', 'b', 'c', 'd', 'e']),
                class_colors=json.dumps([[0, 0, 0]] * 5))
    bad = tmp_path / 'wrong_k.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    msg = expect_error(bad, 'classifier.weight')
    assert '(4,' in msg and '(5,' in msg


def test_metadata_width_disagrees_with_tensors(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    meta['width'] = '0.25'
    bad = tmp_path / 'wrong_width.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'shape')


def test_missing_tensor(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    del tensors['classifier.bias']
    bad = tmp_path / 'missing.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'missing', 'classifier.bias')


def test_unexpected_tensor(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    tensors['extra.weight'] = torch.zeros(2)
    bad = tmp_path / 'extra.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'unexpected', 'extra.weight')


def test_architecture_disagrees_with_tensors(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    meta['architecture'] = json.dumps('segnet_basic')
    bad = tmp_path / 'arch.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'segnet_basic')


def test_truncated_file(model_file, tmp_path):
    path, _ = model_file
    data = path.read_bytes()
    bad = tmp_path / 'truncated.safetensors'
    bad.write_bytes(data[:len(data) // 2])
    expect_error(bad)
    with pytest.raises(ModelFileError, match='not a valid safetensors'):
        read_model_info(bad)


def test_header_only_truncation(model_file, tmp_path):
    path, _ = model_file
    bad = tmp_path / 'short.safetensors'
    bad.write_bytes(path.read_bytes()[:20])
    expect_error(bad)


@pytest.mark.parametrize('size', [0, 3, 1000])
def test_random_bytes(tmp_path, size):
    bad = tmp_path / 'random.safetensors'
    bad.write_bytes(os.urandom(size) if size else b'')
    expect_error(bad)


def test_safetensors_without_our_metadata(tmp_path):
    bad = tmp_path / 'foreign.safetensors'
    model = build_model('segnet', K, width=0.125)
    save_file(dict(model.state_dict()), str(bad))
    expect_error(bad, 'segnet_ros')
    save_file(dict(model.state_dict()), str(bad), metadata={'format': 'pt'})
    expect_error(bad, 'segnet_ros')


def test_class_names_length_mismatch(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    meta['class_names'] = json.dumps(['only', 'three', 'names'])
    bad = tmp_path / 'names.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'class names')


def test_missing_metadata_key(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    del meta['std']
    bad = tmp_path / 'nostd.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'std')


def test_metadata_not_json(model_file, tmp_path):
    path, _ = model_file
    tensors, meta = read_raw(path)
    meta['mean'] = '[0.1, 0.2,'
    bad = tmp_path / 'json.safetensors'
    save_file(tensors, str(bad), metadata=meta)
    expect_error(bad, 'JSON')


def test_nonexistent_path_and_directory(tmp_path):
    expect_error(tmp_path / 'nope.safetensors', 'no such model file')
    expect_error(tmp_path, 'not a regular file')


def test_save_refuses_inconsistent_info(tmp_path):
    model = build_model('segnet', K, width=0.125)
    path = tmp_path / 'x.safetensors'
    with pytest.raises(ModelFileError, match='class names'):
        save_model_file(path, model, make_info(class_names=['a']))
    with pytest.raises(ModelFileError, match='input_size'):
        save_model_file(path, model, make_info(input_size=[32]))
    assert not path.exists()


def test_save_state_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model('segnet', K, width=0.125)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    adam = torch.optim.AdamW(list(model.parameters()), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(sgd, lambda it: 0.5)
    for opt in (sgd, adam):
        model(torch.randn(2, 3, 16, 16)).mean().backward()
        opt.step()
        opt.zero_grad()
    sched.step()
    state = {
        'model': model.state_dict(), 'optimizer': sgd.state_dict(), 'adam': adam.state_dict(),
        'scheduler': sched.state_dict(), 'epoch': 3, 'best': 0.25, 'none': None,
        'flag': True, 'name': 'run "one"\n', 'nan': float('nan'),
        'list': [1, 2.5, 'x', None, [torch.arange(3)], (4, 5)], 'tuple': (1, (2, 3), []),
        'nested': {'a': {'b': torch.ones(2, 2, dtype=torch.float16)}, 7: 'int key',
                   'scalar': torch.tensor(3.5), 'empty': torch.zeros(0, 4)},
        'history': [{'epoch': 1, 'loss': 1.5}, {'epoch': 2, 'loss': 0.9}],
    }
    path = tmp_path / 'last.ckpt'
    save_state(path, state)
    back = load_state(path)

    def same(a, b, where='state'):
        if isinstance(a, dict):  # an OrderedDict state_dict comes back as a dict
            assert isinstance(b, dict), where
        else:
            assert type(a) is type(b), where
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and torch.equal(a, b), where
        elif isinstance(a, dict):
            assert list(a) == list(b), where
            for k in a:
                same(a[k], b[k], f'{where}[{k!r}]')
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f'{where}[{i}]')
        elif isinstance(a, float) and a != a:
            assert b != b, where
        else:
            assert a == b, where

    same(state, back)

    model2 = build_model('segnet', K, width=0.125)
    model2.load_state_dict(back['model'])
    sgd2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sgd2.load_state_dict(back['optimizer'])
    adam2 = torch.optim.AdamW(list(model2.parameters()), lr=1e-3)
    adam2.load_state_dict(back['adam'])
    sched2 = torch.optim.lr_scheduler.LambdaLR(sgd2, lambda it: 0.5)
    sched2.load_state_dict(back['scheduler'])
    # One more identical step on both keeps them identical.
    x = torch.randn(2, 3, 16, 16)
    for m, opt in ((model, sgd), (model2, sgd2)):
        m(x).mean().backward()
        opt.step()
    for k, v in model.state_dict().items():
        assert torch.equal(model2.state_dict()[k], v), k


def test_save_state_rejects_unstorable(tmp_path):
    with pytest.raises(TypeError, match='s.0'):
        save_state(tmp_path / 'x.ckpt', {'bad': object()})


def test_load_state_refuses_other_files(model_file, tmp_path):
    path, _ = model_file
    with pytest.raises(ModelFileError, match='not a segnet_ros checkpoint'):
        load_state(path)
    bad = tmp_path / 'junk.ckpt'
    bad.write_bytes(b'junk')
    with pytest.raises(ModelFileError, match='junk.ckpt'):
        load_state(bad)
    with pytest.raises(ModelFileError):
        load_state(tmp_path / 'missing.ckpt')


def test_safetensors_header_length_starting_with_pickle_byte_still_loads(tmp_path):
    # The first byte of a safetensors file is the low byte of its header length; 0x80 is
    # also the pickle protocol marker and must not be mistaken for one.
    model = build_model('segnet', 4, width=0.125)
    path = tmp_path / 'm.safetensors'
    for pad in range(400):
        info = default_info('segnet', 4, width=0.125, metrics={'pad': 'x' * pad})
        save_model_file(str(path), model, info)
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail('could not produce a header length with low byte 0x80')
    loaded, info = load_model_file(str(path))
    assert info.metrics['pad'] == 'x' * pad


def test_fp16_files_are_a_format_the_network_loads(tmp_path):
    import torch
    from safetensors import safe_open
    model = build_model('segnet', K, width=0.125).eval()
    info = make_info()
    full, half = tmp_path / 'full.safetensors', tmp_path / 'half.safetensors'
    save_model_file(full, model, info)
    save_model_file(half, model, info, dtype=torch.float16)
    with safe_open(str(half), framework='pt') as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {'torch.float16',
                                                                  'torch.int64'}
    assert half.stat().st_size < 0.6 * full.stat().st_size
    a, _ = load_model_file(full)
    b, _ = load_model_file(half)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert vb.dtype == va.dtype, k  # loaded into the fp32 network
        torch.testing.assert_close(vb, va.half().to(va.dtype), rtol=0, atol=0)
    with pytest.raises(ModelFileError, match='cannot be stored as'):
        save_model_file(tmp_path / 'x.safetensors', model, info, dtype=torch.int8)


def test_a_tensor_of_the_wrong_dtype_is_one_line_naming_file_and_tensor(tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    good = tmp_path / 'good.safetensors'
    save_model_file(good, build_model('segnet', K, width=0.125), make_info())
    with safe_open(str(good), framework='pt') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    weight = next(k for k in tensors if tensors[k].is_floating_point())
    counter = next(k for k in tensors if not tensors[k].is_floating_point())
    for name, key, bad, said in (('f64', weight, tensors[weight].double(), 'float64'),
                                 ('i8', weight, tensors[weight].to(torch.int8), 'int8'),
                                 ('ctr', counter, tensors[counter].float(), 'float32')):
        path = tmp_path / f'{name}.safetensors'
        save_file({**tensors, key: bad}, str(path), metadata=meta)
        with pytest.raises(ModelFileError) as e:
            load_model_file(path)
        text = str(e.value)
        assert str(path) in text and key in text and f'stored as {said}' in text, text
        assert '\n' not in text
