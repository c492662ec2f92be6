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

"""Tests for the SegNet models: sizes, shapes, Caffe pooling, unpooling, Bayesian sampling."""


import pytest
from segnet_ros.nets import ARCHITECTURES
from segnet_ros.nets import build_model
from segnet_ros.nets import segnet as segnet_module
from segnet_ros.nets.segnet import fold_batchnorm
from segnet_ros.nets.segnet import max_pool
from segnet_ros.nets.segnet import max_unpool
from segnet_ros.nets.segnet import MCDropout
from segnet_ros.nets.segnet import scatter_unpool
import torch
import torch.nn.functional as F

# Tiny models run fastest on one thread, and a busy machine makes extra threads wait.
torch.set_num_threads(1)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_segnet_matches_paper():
    # Conv weights + conv biases + BatchNorm affine (gamma, beta), exactly what the Caffe
    # segnet_train.prototxt holds; BN running statistics are buffers, not parameters.
    n = n_params(build_model('segnet', 11))
    assert n == 29_449_355, \
        f'SegNet (11 classes) should have the Caffe count 29,449,355, got {n:,}'


def test_parameter_count_segnet_basic_matches_paper():
    n = n_params(build_model('segnet_basic', 11))
    assert n == 1_416_587, f'SegNet-Basic (11 classes) should have 1,416,587, got {n:,}'


def test_bayesian_variants_add_no_parameters():
    assert n_params(build_model('bayesian_segnet', 11, width=0.25)) == \
        n_params(build_model('segnet', 11, width=0.25))
    assert n_params(build_model('bayesian_segnet_basic', 11, width=0.25)) == \
        n_params(build_model('segnet_basic', 11, width=0.25))


def test_width_scales_the_model():
    full = n_params(build_model('segnet', 11))
    half = n_params(build_model('segnet', 11, width=0.5))
    quarter = n_params(build_model('segnet', 11, width=0.25))
    assert quarter < 2_000_000
    assert quarter < half < full


@pytest.mark.parametrize('name', sorted(ARCHITECTURES))
@pytest.mark.parametrize('size', [(45, 61), (33, 47), (17, 23), (32, 48)])
def test_forward_returns_logits_at_input_size(name, size):
    torch.manual_seed(0)
    model = build_model(name, 5, width=0.125).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 5, *size)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


def test_tiny_inputs_down_to_one_pixel():
    model = build_model('segnet', 3, width=0.125).eval()
    with torch.no_grad():
        for size in [(1, 1), (1, 7), (5, 3), (2, 2)]:
            assert model(torch.zeros(1, 3, *size)).shape == (1, 3, *size)


def test_pools_round_up_like_caffe(monkeypatch):
    sizes = []

    def recording_pool(x):
        out = max_pool(x)
        sizes.append(tuple(out[0].shape[-2:]))
        return out

    monkeypatch.setattr(segnet_module, 'max_pool', recording_pool)
    model = build_model('segnet', 2, width=0.125).eval()
    with torch.no_grad():
        y = model(torch.zeros(1, 3, 360, 480))
    assert sizes == [(180, 240), (90, 120), (45, 60), (23, 30), (12, 15)]
    assert y.shape == (1, 2, 360, 480)


def test_max_pool_rounds_up_on_odd_sizes():
    x = torch.zeros(1, 1, 45, 60)
    pooled, idx = max_pool(x)
    assert pooled.shape == (1, 1, 23, 30) and idx.shape == (1, 1, 23, 30)


@pytest.mark.parametrize('size', [(8, 8), (7, 9), (45, 61), (1, 5)])
@pytest.mark.parametrize('layout', ['nchw', 'channels_last_bf16'])
def test_max_unpool_matches_torch(size, layout):
    torch.manual_seed(1)
    x = torch.randn(2, 3, *size)
    if layout != 'nchw':  # as the light model runs on the CPU
        x = x.bfloat16().contiguous(memory_format=torch.channels_last)
    pooled, idx = max_pool(x)
    ours = max_unpool(pooled, idx, size)
    ref = F.max_unpool2d(pooled, idx, 2, 2, output_size=size)
    assert ours.shape == (2, 3, *size)
    assert torch.equal(ours, ref)
    # The scatter that export and tracing use places every value the same way.
    assert torch.equal(scatter_unpool(pooled, idx, size), ref)
    # Each pooled value sits where the pool found it, in the input; everything else is 0.
    kept = ours != 0
    assert torch.equal(ours[kept], x[kept])
    assert int(kept.sum()) == pooled.numel()


def test_max_unpool_hand_example():
    x = torch.tensor([[[[1., 5., 2.],
                        [3., 4., 9.],
                        [7., 0., 6.]]]])
    pooled, idx = max_pool(x)
    # Caffe rounding: 3x3 -> 2x2, the last row/column windows are partial.
    assert pooled.tolist() == [[[[5., 9.], [7., 6.]]]]
    assert idx.tolist() == [[[[1, 5], [6, 8]]]]
    out = max_unpool(pooled, idx, (3, 3))
    assert out.tolist() == [[[[0., 5., 0.],
                              [0., 0., 9.],
                              [7., 0., 6.]]]]


def test_factory_rejects_unknown_name():
    with pytest.raises(ValueError) as e:
        build_model('segnett', 11)
    msg = str(e.value)
    assert 'segnett' in msg
    for name in ARCHITECTURES:
        assert name in msg


@pytest.mark.parametrize('k', [0, -1, 256, 2.5, '11', None])
def test_factory_rejects_bad_num_classes(k):
    with pytest.raises(ValueError, match='num_classes'):
        build_model('segnet', k, width=0.125)


@pytest.mark.parametrize('width', [0, -0.5, 5.0])
def test_factory_rejects_bad_width(width):
    with pytest.raises(ValueError, match='width'):
        build_model('segnet', 11, width=width)


@pytest.mark.parametrize('name', ['segnet', 'segnet_basic'])
@pytest.mark.parametrize('shape', [(1, 1, 32, 48), (3, 32, 48), (1, 4, 32, 48)])
def test_wrong_input_shape_is_explained(name, shape):
    model = build_model(name, 4, width=0.125).eval()
    with pytest.raises(ValueError) as e:
        model(torch.zeros(shape))
    msg = str(e.value)
    assert '(N, 3, H, W)' in msg
    assert str(tuple(shape)) in msg


@pytest.mark.parametrize('name', ['bayesian_segnet', 'bayesian_segnet_basic'])
def test_mc_predict(name):
    torch.manual_seed(0)
    model = build_model(name, 4, width=0.125).eval()
    assert model.bayesian
    x = torch.randn(2, 3, 33, 47)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b), 'eval forward must be deterministic'

    mean, unc = model.mc_predict(x, samples=6)
    assert mean.shape == (2, 4, 33, 47)
    assert unc.shape == (2, 33, 47)
    assert torch.allclose(mean.sum(1), torch.ones(2, 33, 47), atol=1e-5)
    assert (mean >= 0).all() and (unc >= 0).all()
    assert float(unc.max()) > 0, 'dropout samples should disagree somewhere'

    # Two single-sample passes differ: dropout is really on while sampling.
    p1, _ = model.mc_predict(x, samples=1)
    p2, _ = model.mc_predict(x, samples=1)
    assert not torch.equal(p1, p2)

    # Afterwards the model is back to deterministic eval.
    assert not model.training
    assert all(not m.sampling for m in model.modules() if isinstance(m, MCDropout))
    with torch.no_grad():
        assert torch.equal(model(x), a)


@pytest.mark.parametrize('name', ['bayesian_segnet', 'bayesian_segnet_basic'])
def test_mc_predict_without_dropout_is_the_forward_pass(name):
    # Shared encoder prefix, samples batched and chunked (5 = 2 + 2 + 1): with the dropout
    # probability at 0 every sample is the deterministic forward pass.
    torch.manual_seed(1)
    model = build_model(name, 4, width=0.125).eval()
    for m in model.modules():
        if isinstance(m, MCDropout):
            m.p = 0.0
    x = torch.randn(2, 3, 33, 47).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = torch.softmax(model(x), 1)
    mean, unc = model.mc_predict(x, samples=5, batch=2)
    torch.testing.assert_close(mean, want, atol=1e-6, rtol=1e-5)
    assert float(unc.abs().max()) < 1e-7  # E[p^2] - E[p]^2 in float32


def test_mc_predict_restores_eval_after_error():
    model = build_model('bayesian_segnet', 4, width=0.125).eval()
    with pytest.raises(ValueError):
        model.mc_predict(torch.zeros(1, 1, 16, 16), samples=2)
    assert all(not m.sampling for m in model.modules() if isinstance(m, MCDropout))


@pytest.mark.parametrize('name', ['segnet', 'segnet_basic'])
def test_mc_predict_needs_bayesian_model(name):
    model = build_model(name, 4, width=0.125).eval()
    assert not model.bayesian
    with pytest.raises(ValueError, match='Bayesian'):
        model.mc_predict(torch.zeros(1, 3, 16, 16))


def test_mc_predict_rejects_zero_samples():
    model = build_model('bayesian_segnet', 4, width=0.125).eval()
    with pytest.raises(ValueError, match='samples'):
        model.mc_predict(torch.zeros(1, 3, 16, 16), samples=0)


@pytest.mark.parametrize('name', ['segnet', 'segnet_basic'])
def test_backward_reaches_first_conv(name):
    torch.manual_seed(0)
    model = build_model(name, 4, width=0.125).train()
    x = torch.randn(2, 3, 33, 47)
    target = torch.randint(0, 4, (2, 33, 47))
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 3
    assert first.weight.grad is not None
    assert torch.isfinite(first.weight.grad).all()
    assert float(first.weight.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize('name', ['segnet', 'segnet_basic'])
def test_fold_batchnorm_gives_the_same_logits_without_batchnorm(name):
    torch.manual_seed(2)
    model = build_model(name, 5, width=0.125).eval()
    for m in model.modules():  # statistics unlike the fresh 0/1, so folding has work to do
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(1, 3, 45, 61)
    with torch.no_grad():
        want = model(x)
        got = fold_batchnorm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_fold_batchnorm_leaves_a_training_model_alone():
    model = build_model('segnet', 5, width=0.125).train()
    n = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    fold_batchnorm(model)
    assert n > 0 and sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == n
