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

"""The CPU output path (OpenCV) gives what the torch path gives, at both output sizes."""

import numpy as np
import pytest
from segnet_ros.inference import Segmenter
import torch
import torch.nn.functional as F

pytest.importorskip('cv2')
OUTPUTS = ('mask', 'color', 'overlay', 'confidence')


@pytest.fixture
def pair(models):
    fast = Segmenter(models['a'], device='cpu')
    slow = Segmenter(models['a'], device='cpu')
    slow._cv2 = None  # the torch path, used on CUDA and without OpenCV
    assert fast._cv2 is not None
    return fast, slow


@pytest.mark.parametrize('size', [(48, 64), (100, 140), (1080, 1920), (37, 51)])
def test_outputs_from_the_same_scores_match_the_torch_path(pair, size):
    fast, _ = pair
    h, w = size
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn((1, fast.num_classes, *fast.input_size), generator=gen) * 3
    rgb = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=gen).numpy()
    got = {}
    fast._finish_cv2(scores.clone(), None, rgb, set(OUTPUTS), 0.3, (h, w),
                     lambda k, v: got.__setitem__(k, v))
    top, mask = scores[0].max(0)
    mask = F.interpolate(mask.to(torch.uint8)[None, None], size=(h, w), mode='nearest')[0, 0]
    color = fast._lut[mask.long()]
    conf = F.interpolate(((scores[0] - top).exp().sum(0).reciprocal())[None, None],
                         size=(h, w), mode='bilinear', align_corners=False)[0, 0]
    overlay = rgb * 0.7 + color.numpy() * 0.3
    assert np.array_equal(got['mask'], mask.numpy())
    assert np.array_equal(got['color'], color.numpy())
    assert np.abs(got['overlay'].astype(float) - overlay).max() <= 0.51  # rounding only
    assert got['confidence'].dtype == np.float32
    np.testing.assert_allclose(got['confidence'], conf.numpy(), atol=1e-5)


@pytest.mark.parametrize('at_network', [False, True])
@pytest.mark.parametrize('frame', [(96, 128), (40, 56)], ids=['larger', 'smaller'])
def test_segment_matches_the_torch_path_on_another_frame_size(pair, at_network, frame):
    fast, slow = pair
    rgb = np.random.default_rng(1).integers(0, 256, (*frame, 3), np.uint8)
    a = fast.segment(rgb, OUTPUTS, alpha=0.5, at_network=at_network)
    b = slow.segment(rgb, OUTPUTS, alpha=0.5, at_network=at_network)
    size = fast.input_size if at_network else rgb.shape[:2]
    for r in (a, b):
        assert r.mask.shape == r.confidence.shape == size and r.overlay.shape == (*size, 3)
    # The fast path resizes the uint8 frame (rounded) before the float conversion: a few
    # mask pixels may flip where two classes score alike, no more.
    assert (a.mask == b.mask).mean() > 0.97
    np.testing.assert_allclose(a.confidence, b.confidence, atol=0.05)
    same = a.mask == b.mask
    assert np.array_equal(a.color[same], b.color[same])


def test_network_resolution_overlay_is_the_resized_frame_blended(pair):
    fast, _ = pair
    rgb = np.full((96, 128, 3), 200, np.uint8)
    r = fast.segment(rgb, ('overlay', 'color'), alpha=0.0, at_network=True)
    assert r.overlay.shape == (*fast.input_size, 3) and (r.overlay == 200).all()


def test_a_smaller_frame_is_upscaled_bilinearly_within_one_level(models):
    # OpenCV upscales in fixed point: the float resize of the torch path, rounded.
    seg = Segmenter(models['a'], device='cpu')
    rgb = np.random.default_rng(4).integers(0, 256, (40, 56, 3), np.uint8)
    small, _ = seg._prepare_host(rgb)
    img = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    want = F.interpolate(img, size=seg.input_size, mode='bilinear', align_corners=False)
    assert small.shape == (*seg.input_size, 3) and small.flags['C_CONTIGUOUS']
    assert np.abs(small - want[0].permute(1, 2, 0).numpy()).max() <= 1.0


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
@pytest.mark.parametrize('size', [None, (100, 140), (40, 56)])
def test_normalising_by_lookup_is_bit_identical_to_the_float_expression(models, precision,
                                                                        size):
    seg = Segmenter(models['a'], device='cpu', precision=precision, warn=lambda m: None)
    h, w = size or seg.input_size
    rgb = np.random.default_rng(2).integers(0, 256, (h, w, 3), np.uint8)
    small, x = seg._prepare_host(rgb)
    assert small.shape == (*seg.input_size, 3)
    img = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None].float()
    want = ((img - seg._mean) / seg._std).to(seg.dtype)
    assert x.dtype == seg.dtype and x.shape == want.shape
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, want)


def test_class_mask_from_bf16_scores_is_the_float_argmax(pair):
    fast, _ = pair
    gen = torch.Generator().manual_seed(3)
    scores = (torch.randn((1, fast.num_classes, 40, 56), generator=gen) * 3).bfloat16()
    got = {}
    fast._finish_cv2(scores, None, np.zeros((40, 56, 3), np.uint8), {'mask', 'confidence'},
                     0.5, (40, 56), got.__setitem__)
    f = scores.float()[0]
    assert np.array_equal(got['mask'], f.argmax(0).to(torch.uint8).numpy())
    conf = (f - f.max(0).values).exp().sum(0).reciprocal()
    np.testing.assert_allclose(got['confidence'], conf.numpy(), atol=1e-6)
