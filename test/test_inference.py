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

"""The inference core on the CPU with small models (no ROS)."""

import os
import pathlib
import subprocess
import sys

from conftest import make_model_file
import numpy as np
import pytest
from segnet_ros import inference
from segnet_ros.inference import Segmenter
from segnet_ros.inference import SegmenterError
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]


def rgb(h=50, w=70, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def seg(models):
    # fp32: the results are compared with the fp32 model (precision auto is bf16 on CPUs
    # with native bf16).
    return Segmenter(models['a'], device='cpu', precision='fp32')


def test_outputs_at_input_resolution(seg):
    res = seg.segment(rgb(), outputs=inference.OUTPUTS, alpha=0.3)
    assert res.mask.shape == (50, 70) and res.mask.dtype == np.uint8
    assert res.mask.max() < seg.num_classes
    assert res.color.shape == (50, 70, 3) and res.color.dtype == np.uint8
    assert res.overlay.shape == (50, 70, 3)
    assert res.confidence.shape == (50, 70) and res.confidence.dtype == np.float32
    assert res.uncertainty is None  # not a Bayesian model
    assert 0 < res.infer_s <= res.total_s


def test_only_requested_outputs(seg):
    res = seg.segment(rgb(), outputs=('mask',))
    assert res.mask is not None
    assert res.color is None and res.overlay is None and res.confidence is None
    res = seg.segment(rgb(), outputs=('overlay',))
    assert res.overlay is not None and res.mask is None and res.color is None


def test_mask_matches_model_argmax_and_colours_and_overlay(seg):
    img = rgb(48, 64, seed=3)  # the model's own input size: no resizing involved
    res = seg.segment(img, outputs=('mask', 'color', 'overlay', 'confidence'), alpha=0.25)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    mean = torch.tensor(seg.info.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(seg.info.std).view(1, 3, 1, 1) * 255
    with torch.no_grad():
        logits = seg.model(((x - mean) / std).contiguous(memory_format=torch.channels_last))
    np.testing.assert_array_equal(res.mask, logits[0].argmax(0).numpy())
    np.testing.assert_allclose(res.confidence, torch.softmax(logits[0], 0).amax(0).numpy(),
                               atol=1e-6)
    palette = np.array(seg.class_colors, np.uint8)
    np.testing.assert_array_equal(res.color, palette[res.mask])
    expected = np.floor(img * 0.75 + palette[res.mask] * 0.25 + 0.5)
    assert np.abs(res.overlay.astype(int) - expected).max() <= 1


def test_emit_hands_out_the_mask_before_the_rest_is_computed(seg, monkeypatch):
    order = []
    real_blend = inference.blend_uint8

    def blend_uint8(*args):
        order.append('blend')
        return real_blend(*args)
    monkeypatch.setattr(inference, 'blend_uint8', blend_uint8)
    got = {}

    def emit(name, arr):
        order.append(name)
        got[name] = arr
    res = seg.segment(rgb(), outputs=('confidence', 'overlay', 'mask', 'color'), emit=emit)
    # The node publishes from emit: the class mask must leave before colours are computed.
    assert order == ['mask', 'color', 'blend', 'overlay', 'confidence']
    for name, arr in got.items():
        assert arr is getattr(res, name)
    order.clear()
    seg.segment(rgb(), outputs=('confidence',), emit=emit)
    assert order == ['confidence']


def test_device_path_packs_outputs_into_one_copy_and_emits_after(models, monkeypatch):
    """The CUDA code path (compute everything, one packed copy back, then emit), on the CPU."""
    img = rgb(seed=5)
    outputs = ('mask', 'color', 'overlay', 'confidence')
    ref_seg = Segmenter(models['a'], device='cpu')
    ref_seg._cv2 = None  # the same torch code as on CUDA, outputs on the host
    ref = ref_seg.segment(img, outputs=outputs, alpha=0.4)
    dev = Segmenter(models['a'], device='cpu')
    dev._outputs_on_host, dev._cv2 = False, None
    copies, order = [], []
    real_to_host = inference._to_host

    def to_host(tensors):
        copies.append(sorted(tensors))
        order.append('copy')
        return real_to_host(tensors)
    monkeypatch.setattr(inference, '_to_host', to_host)
    res = dev.segment(img, outputs=outputs, alpha=0.4, emit=lambda name, arr: order.append(name))
    assert copies == [sorted(outputs)]
    assert order == ['copy', 'mask', 'color', 'overlay', 'confidence']
    for name in outputs:
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name))


def test_alpha_extremes(seg):
    img = rgb()
    res0 = seg.segment(img, outputs=('overlay', 'color'), alpha=0.0)
    res1 = seg.segment(img, outputs=('overlay', 'color'), alpha=1.0)
    np.testing.assert_array_equal(res0.overlay, img)
    np.testing.assert_array_equal(res1.overlay, res1.color)


@pytest.mark.parametrize('size', [(1, 1), (17, 23), (480, 640), (33, 101)])
def test_any_input_size(seg, size):
    res = seg.segment(rgb(*size), outputs=('mask', 'confidence'))
    assert res.mask.shape == size


def test_input_size_override(models):
    seg = Segmenter(models['a'], device='cpu', input_size=(32, 40))
    assert seg.input_size == (32, 40)
    assert seg.segment(rgb(), outputs=('mask',)).mask.shape == (50, 70)
    with pytest.raises(SegmenterError, match='input_size'):
        Segmenter(models['a'], device='cpu', input_size=(4, 40))


def test_test_time_flip_averages_the_scores_of_the_frame_and_its_mirror(models):
    img = rgb(48, 64, seed=5)  # the model's own input size: no resizing involved
    seg = Segmenter(models['a'], device='cpu', precision='fp32', flip=True)
    res = seg.segment(img, outputs=('mask', 'confidence'))
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    x = (x - torch.tensor(seg.info.mean).view(1, 3, 1, 1) * 255) / \
        (torch.tensor(seg.info.std).view(1, 3, 1, 1) * 255)
    with torch.no_grad():
        logits = (seg.model(x) + seg.model(x.flip(-1)).flip(-1)) / 2
        plain = seg.model(x)
    np.testing.assert_array_equal(res.mask, logits[0].argmax(0).numpy())
    np.testing.assert_allclose(res.confidence, torch.softmax(logits[0], 0).amax(0).numpy(),
                               atol=1e-5)
    assert not np.array_equal(res.mask, plain[0].argmax(0).numpy())  # the flip mattered
    # A mirrored frame gives the mirrored mask exactly.
    np.testing.assert_array_equal(seg.segment(img[:, ::-1].copy()).mask, res.mask[:, ::-1])
    # Monte Carlo sampling already averages: the flip is not added to it.
    assert not Segmenter(models['bayesian'], device='cpu', mc_samples=2, flip=True).flip


def test_bayesian_uncertainty(models):
    seg = Segmenter(models['bayesian'], device='cpu', mc_samples=4)
    assert seg.bayesian
    res = seg.segment(rgb(), outputs=('mask', 'confidence', 'uncertainty'))
    assert res.uncertainty.shape == (50, 70) and res.uncertainty.dtype == np.float32
    assert res.uncertainty.min() >= 0 and res.uncertainty.max() > 0


def test_bad_images_are_refused(seg):
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8)):
        with pytest.raises(ValueError, match='uint8 RGB'):
            seg.segment(bad)
    with pytest.raises(ValueError, match='unknown outputs'):
        seg.segment(rgb(), outputs=('mask', 'depth'))


def test_device_and_precision_selection(models, monkeypatch):
    assert inference.resolve_device('cpu').type == 'cpu'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert inference.resolve_device('auto').type == 'cpu'
    for name in ('cuda', 'cuda:1'):
        with pytest.raises(SegmenterError, match='no CUDA device'):
            inference.resolve_device(name)
    with pytest.raises(SegmenterError, match='unknown device'):
        inference.resolve_device('tpu')
    warnings = []
    seg = Segmenter(models['a'], device='cpu', precision='fp16', warn=warnings.append)
    assert seg.dtype == torch.float32 and 'fp16 is not supported' in warnings[0]
    with pytest.raises(SegmenterError, match='unknown precision'):
        Segmenter(models['a'], device='cpu', precision='int3')
    cpu = torch.device('cpu')
    assert inference.resolve_precision('auto', cpu, native_bf16=False) == torch.float32
    assert inference.resolve_precision('auto', cpu, native_bf16=True) == torch.bfloat16
    assert inference.resolve_precision('auto', torch.device('cuda')) == torch.float16
    warnings.clear()
    assert inference.resolve_precision('bf16', cpu, warnings.append,
                                       native_bf16=False) == torch.float32
    assert len(warnings) == 1 and 'not native' in warnings[0]
    assert inference.resolve_precision('bf16', cpu, warnings.append,
                                       native_bf16=True) == torch.bfloat16
    assert len(warnings) == 1


@pytest.mark.parametrize('text,native', [
    ('flags\t\t: fpu avx512f avx512_bf16 amx_tile\n', True),
    ('flags\t\t: fpu amx_bf16\n', True),
    ('flags\t\t: fpu sse4_2 avx2 avx512f\n', False),
    ('Features\t: fp asimd bf16 i8mm\n', True),   # Arm (Graviton 3, Neoverse V1)
    ('Features\t: fp asimd\n', False),
])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, text, native):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\n' + text)
    assert inference.cpu_has_native_bf16(str(info)) is native
    assert inference.cpu_has_native_bf16(str(tmp_path / 'missing')) is False


def test_bf16_on_cpu_runs(models):
    seg = Segmenter(models['a'], device='cpu', precision='bf16')
    assert seg.segment(rgb(), outputs=('mask',)).mask.shape == (50, 70)


def test_bad_model_file_is_one_clear_error(tmp_path):
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'not a model')
    with pytest.raises(SegmenterError, match='bad.safetensors'):
        Segmenter(str(bad), device='cpu')
    with pytest.raises(SegmenterError, match='no such model file'):
        Segmenter(str(tmp_path / 'missing.safetensors'), device='cpu')


def test_packed_copy_back_unpacks_every_dtype():
    tensors = {'mask': torch.randint(0, 5, (7, 9), dtype=torch.uint8),
               'color': torch.randint(0, 255, (7, 9, 3), dtype=torch.uint8),
               'confidence': torch.rand(7, 9)}
    # The single-copy path used on CUDA, exercised on CPU tensors.
    arrays = inference._to_host(tensors)
    assert list(arrays) == list(tensors)
    for k, v in tensors.items():
        assert arrays[k].dtype == v.numpy().dtype
        np.testing.assert_array_equal(arrays[k], v.numpy())


def test_close_releases_the_model(models):
    seg = Segmenter(models['a'], device='cpu')
    seg.close()
    assert seg.model is None


def test_make_model_file_helper_gives_other_weights(tmp_path):
    a = Segmenter(make_model_file(tmp_path / 'x.safetensors', seed=5), device='cpu')
    b = Segmenter(make_model_file(tmp_path / 'y.safetensors', seed=6), device='cpu')
    img = rgb()
    assert not np.array_equal(a.segment(img, ('confidence',)).confidence,
                              b.segment(img, ('confidence',)).confidence)


def test_onnxruntime_backend_matches_torch(models, tmp_path, monkeypatch):
    pytest.importorskip('onnxruntime')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    ref = Segmenter(models['a'], device='cpu', backend='torch', precision='fp32')
    ort = Segmenter(models['a'], device='cpu', backend='onnxruntime')
    assert (ref.backend, ort.backend) == ('torch', 'onnxruntime')
    cached = os.listdir(tmp_path / 'segnet_ros')
    assert len(cached) == 1 and cached[0].endswith('.onnx')
    for size in ((48, 64), (50, 70), (17, 23)):
        img = rgb(*size, seed=sum(size))
        a = ref.segment(img, ('mask', 'confidence'))
        b = ort.segment(img, ('mask', 'confidence'))
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
        # Pixels may only differ where two classes are tied within float rounding.
        assert (a.mask != b.mask).mean() < 0.001
    again = Segmenter(models['a'], device='cpu', backend='onnxruntime')
    assert again._ort.path == ort._ort.path  # exported once, then reused


def test_backend_selection(models, tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    cpu = torch.device('cpu')
    assert inference.resolve_backend('auto', cpu, torch.float32, 0) == 'torch'
    assert inference.resolve_backend('onnxruntime', cpu, torch.float32, 0) == 'onnxruntime'
    assert inference.resolve_backend('auto', cpu, torch.bfloat16, 0) == 'torch'
    assert inference.resolve_backend('auto', cpu, torch.float32, 8) == 'torch'
    assert inference.resolve_backend('auto', torch.device('cuda'), torch.float16, 0) == 'torch'
    with pytest.raises(SegmenterError, match='backend onnxruntime needs'):
        inference.resolve_backend('onnxruntime', cpu, torch.bfloat16, 0)
    with pytest.raises(SegmenterError, match='unknown backend'):
        inference.resolve_backend('tensorrt', cpu, torch.float32, 0)
    seg = Segmenter(models['bayesian'], device='cpu', mc_samples=2)
    assert seg.backend == 'torch'


def test_fast_mask_upsampling(models):
    exact = Segmenter(models['a'], device='cpu', backend='torch', upsample='logits')
    fast = Segmenter(models['a'], device='cpu', backend='torch', upsample='mask')
    img = rgb(96, 128, seed=9)  # twice the network size
    a = exact.segment(img, ('mask', 'confidence', 'color'))
    b = fast.segment(img, ('mask', 'confidence', 'color'))
    assert b.mask.shape == (96, 128) and b.confidence.shape == (96, 128)
    # Every 2x2 block of the fast mask is one network pixel.
    np.testing.assert_array_equal(b.mask[::2, ::2], b.mask[1::2, 1::2])
    assert (a.mask == b.mask).mean() > 0.8
    np.testing.assert_array_equal(b.color, np.array(fast.class_colors, np.uint8)[b.mask])
    with pytest.raises(SegmenterError, match='unknown upsample'):
        Segmenter(models['a'], device='cpu', upsample='cubic')


_IMPORT_ONLY_THE_CORE = """
import sys
import warnings
import numpy, safetensors, torch  # these add filters of their own on import
filters = list(warnings.filters)
import segnet_ros.inference
training = [m for m in sys.modules if m.startswith('segnet_ros.training')]
assert not training, f'importing the inference core imported {training}'
assert warnings.filters == filters, 'importing the inference core changed the warning filters'
"""


def test_import_loads_no_training_code_and_leaves_warning_filters_alone():
    proc = subprocess.run([sys.executable, '-c', _IMPORT_ONLY_THE_CORE], cwd=ROOT, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


_ONNX_WITHOUT_TRAINING = """
import sys
from segnet_ros.inference import Segmenter
seg = Segmenter(sys.argv[1], device='cpu', backend='onnxruntime')
assert seg.segment(__import__('numpy').zeros((8, 8, 3), 'uint8')).mask.shape == (8, 8)
training = [m for m in sys.modules if m.startswith('segnet_ros.training')]
assert not training, f'the ONNX Runtime backend imported {training}'
"""


def test_onnxruntime_backend_exports_without_training_code(models, tmp_path):
    pytest.importorskip('onnxruntime')
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))  # a cold cache: the export runs
    proc = subprocess.run([sys.executable, '-c', _ONNX_WITHOUT_TRAINING, models['a']],
                          cwd=ROOT, env=env, timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(tmp_path / 'segnet_ros')


_READ_ONLY_FRAME = """
import sys
import warnings
import numpy as np
from segnet_ros.inference import Segmenter
seg = Segmenter(sys.argv[1], device='cpu')
filters = list(warnings.filters)
frame = np.zeros((48, 64, 3), np.uint8)
frame.flags.writeable = False  # as a view of a message buffer is
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    for _ in range(2):
        assert seg.segment(frame, ('mask', 'overlay')).mask.shape == (48, 64)
    assert not caught, [str(w.message) for w in caught]
assert warnings.filters == filters
"""


def test_read_only_frames_segment_without_a_copy_warning_or_a_filter_change(models):
    # A fresh process: torch warns about read-only arrays once per process.
    proc = subprocess.run([sys.executable, '-c', _READ_ONLY_FRAME, models['a']], cwd=ROOT,
                          timeout=120, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
