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

"""
``conversions.to_rgb8`` against cv_bridge's conversion to ``rgb8``, to the bit.

cv_bridge (ROS 2's ``toCvCopy(msg, "rgb8")``) is not installable here, so its rules are
written out below from its sources (``cv_bridge.cpp``: ``getConversionCode`` and
``toCvCopyImpl``) and carried out with OpenCV, the library it calls: a colour conversion code
per source encoding, then, where the bit depth changes, ``convertTo`` scaled by 255/65535.
Sources it refuses to turn into a colour image are our documented choices (``DOCUMENTED``).
The cases: its own encode/decode test's encodings (400x400, values 0..126, as it fills them)
and 1000 generated ones (every encoding, random sizes, full-range values).
"""

import dataclasses

import numpy as np
import pytest
from segnet_ros.conversions import ConversionError
from segnet_ros.conversions import ENCODINGS
from segnet_ros.conversions import numpy_to_imgmsg
from segnet_ros.conversions import to_rgb8

cv2 = pytest.importorskip('cv2')

# Source encoding -> OpenCV colour conversion to RGB (None: the channels are RGB already).
TO_RGB = {
    'mono8': 'COLOR_GRAY2RGB', 'mono16': 'COLOR_GRAY2RGB',
    'rgb8': None, 'rgb16': None, 'rgba8': 'COLOR_RGBA2RGB', 'rgba16': 'COLOR_RGBA2RGB',
    'bgr8': 'COLOR_BGR2RGB', 'bgr16': 'COLOR_BGR2RGB', 'bgra8': 'COLOR_BGRA2RGB',
    'bgra16': 'COLOR_BGRA2RGB',
    # ROS names the CFA by its first row, OpenCV by the second: rggb is OpenCV's BayerBG.
    'bayer_rggb8': 'COLOR_BayerBG2RGB', 'bayer_bggr8': 'COLOR_BayerRG2RGB',
    'bayer_gbrg8': 'COLOR_BayerGR2RGB', 'bayer_grbg8': 'COLOR_BayerGB2RGB',
    'bayer_rggb16': 'COLOR_BayerBG2RGB', 'bayer_bggr16': 'COLOR_BayerRG2RGB',
    'bayer_gbrg16': 'COLOR_BayerGR2RGB', 'bayer_grbg16': 'COLOR_BayerGB2RGB',
    'yuv422': 'COLOR_YUV2RGB_UYVY', 'uyvy': 'COLOR_YUV2RGB_UYVY',
    'yuv422_yuy2': 'COLOR_YUV2RGB_YUY2', 'yuyv': 'COLOR_YUV2RGB_YUYV',
}
# cv_bridge refuses these to rgb8 ("not a color format"); we convert, as the README says:
# single channels as grey, three or four as RGB(A), 32FC1 in [0, 1] scaled to 255.
DOCUMENTED = {'8UC1', '8UC3', '8UC4', '16UC1', '16UC3', '32FC1'}
REFUSED_BY_BOTH = {'8UC2'}


class CvBridgeRefuses(Exception):
    """cv_bridge throws for this conversion."""


def cv_bridge_rgb8(arr, encoding):
    """Return what cv_bridge makes of ``arr`` (as decoded from the message) in rgb8."""
    if encoding == 'rgb8':
        return arr.copy()
    if encoding not in TO_RGB:
        raise CvBridgeRefuses(f'[{encoding}] is not a color format')
    code = TO_RGB[encoding]
    out = arr if code is None else cv2.cvtColor(np.ascontiguousarray(arr), getattr(cv2, code))
    if out.dtype == np.uint16:  # convertTo(CV_8U, 255.0 / 65535.0), saturating and rounding
        out = cv2.addWeighted(out, 255.0 / 65535.0, out, 0.0, 0.0, dtype=cv2.CV_8U)
    return out


@dataclasses.dataclass
class Msg:
    header: object = None
    height: int = 0
    width: int = 0
    encoding: str = ''
    is_bigendian: int = 0
    step: int = 0
    data: object = b''


def _array(rng, encoding, h, w, high=None):
    dtype, ch = ENCODINGS[encoding]
    shape = (h, w) if ch == 1 else (h, w, ch)
    if dtype == np.float32:
        return rng.uniform(-0.5, 1.5, shape).astype(np.float32)
    top = high if high is not None else np.iinfo(dtype).max + 1
    arr = rng.integers(0, top, shape, dtype=np.int64).astype(dtype)
    if high is None and arr.size >= 2:  # the extremes always appear
        arr.flat[0], arr.flat[-1] = 0, np.iinfo(dtype).max
    return arr


def _compare(arr, encoding):
    msg = numpy_to_imgmsg(arr, encoding, Msg)
    try:
        expected = cv_bridge_rgb8(arr, encoding)
    except CvBridgeRefuses:
        expected = None
    if encoding in REFUSED_BY_BOTH:
        with pytest.raises(ConversionError):
            to_rgb8(msg)
        return 'refused'
    ours = to_rgb8(msg)
    if expected is None:
        assert encoding in DOCUMENTED, f'{encoding}: cv_bridge refuses, we convert'
        return 'documented'
    assert ours.shape == expected.shape and ours.dtype == np.uint8, encoding
    diff = np.argwhere(ours != expected)
    assert not diff.size, (f'{encoding} {arr.shape}: {len(diff)} values differ, first at '
                           f'{tuple(diff[0])}: ours {ours[tuple(diff[0])]}, cv_bridge '
                           f'{expected[tuple(diff[0])]}')
    return 'same'


# cv_bridge's own encode/decode test (utest2.cpp): these encodings at 400x400, filled
# uniformly in [0, 127) by cv::RNG; the ones to_rgb8 takes at all are compared here.
CV_BRIDGE_TEST_ENCODINGS = ['rgb8', 'rgba8', 'rgb16', 'rgba16', 'bgr8', 'bgra8', 'bgr16',
                            'bgra16', 'mono8', 'mono16', '8UC1', '8UC3', '8UC4', '16UC1',
                            '16UC3', '32FC1', 'yuv422', 'yuv422_yuy2']


@pytest.mark.parametrize('encoding', CV_BRIDGE_TEST_ENCODINGS)
def test_cv_bridges_own_cases(encoding):
    rng = np.random.default_rng(77)
    _compare(_array(rng, encoding, 400, 400, high=127), encoding)


def test_a_thousand_generated_cases_agree_but_for_the_documented_choices():
    rng = np.random.default_rng(2026)
    names = sorted(ENCODINGS)
    seen = {}
    for _ in range(1000):
        encoding = names[rng.integers(len(names))]
        h, w = (int(v) for v in rng.integers(3, 24, 2))
        if encoding in ('yuv422', 'uyvy', 'yuyv', 'yuv422_yuy2'):
            w += w % 2  # 4:2:2 pairs
        outcome = _compare(_array(rng, encoding, h, w), encoding)
        seen.setdefault(outcome, set()).add(encoding)
    assert seen['same'] == set(TO_RGB) | {'rgb8'} - DOCUMENTED, seen
    assert seen['documented'] == DOCUMENTED and seen['refused'] == REFUSED_BY_BOTH
